"""Stage 3, the networks (chapters 3 and 4): the paper's 1D-ConvNet and 2D-ConvNet, and the DCASE 2018 baseline they are
compared with; small blocks (``blocks``) composed into whole models, and a Keras-style summary (``summary``).

===============  ==================================  ======================  =====================  =========
name             class                               input                   default features       count
===============  ==================================  ======================  =====================  =========
``conv1d``       ``Conv1DNet`` (paper Table 1)       ``(B, 1, N)`` waveform  ``waveform``           2,099,801
``inception2d``  ``Inception2DNet`` (paper Table 2)  ``(B, 3, 299, 299)``    ``logmel``, image 299  7,664,969
``baseline``     ``BaselineCNN`` (DCASE 2018)        ``(B, 1, 64, T)``       baseline log-mel       658,591
===============  ==================================  ======================  =====================  =========

Counts are Keras counts (:func:`keras_param_count`). Every model returns **logits** ``(B, n_classes)``;
softmax belongs to the loss and to prediction. Models are built by name with :func:`build_model`; a
checkpoint stores the name and ``model.init_kwargs`` (plain JSON values) and rebuilds with
``build_model(name, **kwargs)``. :func:`default_features` gives the :class:`~audiotag.features.config.FeatureConfig`
each model expects by default, :func:`input_rank` the rank of its batched input.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from audiotag.features.config import FeatureConfig
from audiotag.models.baseline import BASELINE_FEATURES, BaselineCNN
from audiotag.models.blocks import ModelInputError
from audiotag.models.conv1d import Conv1DNet
from audiotag.models.inception2d import PAPER_INPUT_SIZE, Inception2DNet
from audiotag.models.summary import keras_param_count, summary, summary_text, trainable_param_count

MODEL_NAMES = ("conv1d", "inception2d", "baseline")


class UnknownModelError(ValueError):
    """A model name that is not in :data:`MODEL_NAMES`."""

    def __init__(self, name):
        self.name = name
        super().__init__(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")


@dataclass(frozen=True)
class ModelSpec:
    """What the rest of audiotag needs to know about a named model."""

    name: str
    cls: type[nn.Module]
    features: FeatureConfig
    input_rank: int      # rank of the batched input tensor
    description: str


MODEL_SPECS: dict[str, ModelSpec] = {
    "conv1d": ModelSpec("conv1d", Conv1DNet, FeatureConfig(kind="waveform", image_size=None), 3,
                        "1D-ConvNet on raw waveforms (paper Table 1, 2,099,801 parameters)"),
    "inception2d": ModelSpec("inception2d", Inception2DNet, FeatureConfig(kind="logmel", image_size=PAPER_INPUT_SIZE),
                             4, "2D-ConvNet, InceptionV3 up to mixed6 (paper Table 2, 7,664,969 parameters)"),
    "baseline": ModelSpec("baseline", BaselineCNN, BASELINE_FEATURES, 4,
                          "DCASE 2018 Task 2 baseline CNN on 25-frame log-mel patches (658,591 parameters)"),
}
assert tuple(MODEL_SPECS) == MODEL_NAMES


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` registered under ``name`` (raises :class:`UnknownModelError`)."""
    try:
        return MODEL_SPECS[name]
    except (KeyError, TypeError):
        raise UnknownModelError(name) from None


def build_model(name: str, n_classes: int = 41, **kwargs) -> nn.Module:
    """A freshly initialised model by name; ``kwargs`` go to its constructor (see each class)."""
    return get_spec(name).cls(n_classes=n_classes, **kwargs)


def default_features(name: str) -> FeatureConfig:
    """The feature settings the named model expects by default."""
    return get_spec(name).features


def input_rank(name: str) -> int:
    """Rank of the batched input: 3 for ``conv1d`` (``B, 1, N``), 4 for the 2D models (``B, C, H, W``)."""
    return get_spec(name).input_rank


__all__ = [
    "MODEL_NAMES", "MODEL_SPECS", "ModelSpec", "UnknownModelError", "ModelInputError",
    "build_model", "default_features", "input_rank", "get_spec",
    "Conv1DNet", "Inception2DNet", "BaselineCNN",
    "keras_param_count", "trainable_param_count", "summary", "summary_text",
]
