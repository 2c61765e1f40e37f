"""Receptive fields of 1D networks: how many input samples one output value of each layer depends on.

For a stack of convolution and pooling layers, each with kernel ``k_l`` (dilated kernels count as
``d_l (k_l - 1) + 1``) and stride ``s_l``, two numbers per layer tell how its outputs sit on the input:

* the *jump* ``j_l``: the distance in input samples between two neighbouring outputs of layer ``l``,
  ``j_l = j_{l-1} s_l`` with ``j_0 = 1``;
* the *receptive field* ``r_l``: the number of input samples one output of layer ``l`` sees,
  ``r_l = r_{l-1} + (k_l - 1) j_{l-1}`` with ``r_0 = 1``.

Padding shifts where a window starts but not how wide it is, and weight-free shortcuts (a residual block's identity
path) see a subset of what the convolutions around them see, so the formulas above, applied to the convolution and
pooling layers in the order the forward pass calls them, give the receptive field of every layer. Global average
pooling then averages over the whole input, whatever its length.

:func:`layer_geometry` finds the layers by running one dummy input through the model with forward hooks (so the order
is the real forward order, not the order of definition); :func:`receptive_fields` applies the formulas; and
:func:`receptive_field_table` does both and adds the receptive field in milliseconds at given sample rates::

    from audiotag.models import build_model
    from audiotag.models.receptive_field import receptive_field_table
    receptive_field_table(build_model("conv1d"), {"16 kHz": 16000, "44.1 kHz": 44100})
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import pandas as pd
import torch
from torch import nn

#: The layer types whose kernel and stride move the receptive field (1D convolutions and poolings).
SPATIAL_LAYERS = (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d)


@dataclass(frozen=True)
class LayerGeometry:
    """One layer as the receptive field sees it: its name, kind (``conv`` / ``max pool`` / ``avg pool``), kernel,
    stride and dilation (in the layer's own input steps)."""

    name: str
    kind: str
    kernel: int
    stride: int
    dilation: int = 1

    @property
    def span(self) -> int:
        """The kernel's extent in the layer's input steps: ``dilation * (kernel - 1) + 1``."""
        return self.dilation * (self.kernel - 1) + 1


def _single(value) -> int:
    return int(value[0] if isinstance(value, (tuple, list)) else value)


def geometry_of(name: str, module: nn.Module) -> LayerGeometry:
    """The :class:`LayerGeometry` of one ``Conv1d`` / ``MaxPool1d`` / ``AvgPool1d`` (a pooling's stride defaults to
    its kernel, as in PyTorch)."""
    if isinstance(module, nn.Conv1d):
        return LayerGeometry(name, "conv", _single(module.kernel_size), _single(module.stride),
                             _single(module.dilation))
    if isinstance(module, (nn.MaxPool1d, nn.AvgPool1d)):
        kernel = _single(module.kernel_size)
        stride = _single(module.stride) if module.stride is not None else kernel
        dilation = _single(getattr(module, "dilation", 1))
        kind = "max pool" if isinstance(module, nn.MaxPool1d) else "avg pool"
        return LayerGeometry(name, kind, kernel, stride, dilation)
    raise TypeError(f"{name}: {type(module).__name__} is not a 1D convolution or pooling layer")


def layer_geometry(model: nn.Module, input_length: int | None = None, in_channels: int = 1) -> list[LayerGeometry]:
    """The convolution and pooling layers of a 1D ``model`` in the order its forward pass calls them.

    One dummy input of ``in_channels`` x ``input_length`` samples (default: the model's ``min_length`` if it has one, else 16,000)
    runs through the model in eval mode under ``no_grad``; forward hooks record each call. A layer called twice
    appears twice. Names are the modules' qualified names without a leading ``features.`` and without the ``.conv``
    of a convolution wrapped in a conv-BN-ReLU unit (``stem.conv`` -> ``stem``).
    """
    if input_length is None:
        input_length = int(getattr(model, "min_length", 16000))
    calls: list[LayerGeometry] = []
    hooks = []
    for name, module in model.named_modules():
        if isinstance(module, SPATIAL_LAYERS):
            short = name.removeprefix("features.").removesuffix(".conv") or name
            hooks.append(module.register_forward_hook(
                lambda mod, inputs, output, short=short: calls.append(geometry_of(short, mod))))
    if not hooks:
        raise ValueError(f"{type(model).__name__} has no 1D convolution or pooling layer")
    first = next(model.parameters(), None)
    device = first.device if first is not None else "cpu"
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.randn(1, in_channels, int(input_length), device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return calls


def receptive_fields(layers: Iterable[LayerGeometry]) -> pd.DataFrame:
    """Jump and receptive field (in input samples) after each layer, from the recursions

    ``j_l = j_{l-1} s_l`` and ``r_l = r_{l-1} + (span_l - 1) j_{l-1}``, with ``j_0 = r_0 = 1``.

    Returns one row per layer: ``layer``, ``kind``, ``kernel``, ``stride``, ``jump`` and ``receptive field``
    (the last two in input samples).
    """
    rows = []
    jump, field = 1, 1
    for layer in layers:
        field = field + (layer.span - 1) * jump
        jump = jump * layer.stride
        rows.append({"layer": layer.name, "kind": layer.kind, "kernel": layer.kernel, "stride": layer.stride,
                     "jump": jump, "receptive field": field})
    return pd.DataFrame(rows, columns=["layer", "kind", "kernel", "stride", "jump", "receptive field"])


def receptive_field_table(model: nn.Module, sample_rates: Mapping[str, int] | None = None,
                          input_length: int | None = None, in_channels: int = 1) -> pd.DataFrame:
    """:func:`receptive_fields` of ``model``'s layers (:func:`layer_geometry`), indexed by layer, with the jump and
    the receptive field also in milliseconds at each of ``sample_rates`` (``{"16 kHz": 16000}`` adds the columns
    ``receptive field (ms, 16 kHz)`` and ``jump (ms, 16 kHz)``). Sample counts are in the columns
    ``jump (samples)`` and ``receptive field (samples)``."""
    table = receptive_fields(layer_geometry(model, input_length, in_channels)).set_index("layer")
    table = table.rename(columns={"jump": "jump (samples)", "receptive field": "receptive field (samples)"})
    for label, rate in (sample_rates or {}).items():
        table[f"jump (ms, {label})"] = 1000.0 * table["jump (samples)"] / float(rate)
        table[f"receptive field (ms, {label})"] = 1000.0 * table["receptive field (samples)"] / float(rate)
    return table
