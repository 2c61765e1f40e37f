"""Solutions of the exercises of chapter 4, *The 2D-ConvNet on spectral images*.

* ``ex-inception2d-grid`` -- :func:`grid_sizes`: the height and width after every layer of the stem and every
  Inception block, by the output-size formula and by a forward pass, for a 96 x 96 or a 299 x 299 input
  (:func:`conv_output_size` is the formula itself);
* ``ex-inception2d-factorise`` -- :func:`factorised_weights`: the weights of the factorised 1 x 7 / 7 x 1
  convolutions of each block C, counted on the model's own layers, against what one 7 x 7 kernel would cost;
* ``ex-inception2d-cost`` -- :func:`input_cost`: pixels and multiply-adds of one forward pass at several image
  sizes, and their ratios;
* ``ex-inception2d-verdict`` -- :func:`feature_verdict`: which row of Table 4 wins on our data, and whether its
  lead over the next row is larger than the fold-to-fold spread;
* ``ex-inception2d-explorer`` -- a task in chapter 2's feature explorer (answered in words).

The functions take a model (``audiotag.models.build_model("inception2d")``) or a table and return numbers or
DataFrames; none trains anything.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from audiotag.models.blocks import Branches, ConvBN2d


def conv_output_size(n: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Positions a ``kernel`` finds along an axis of ``n`` pixels at ``stride``, after ``padding`` on both sides:
    ``floor((n + 2 p - k) / s) + 1`` (convolution and pooling alike)."""
    if n + 2 * padding < kernel:
        raise ValueError(f"a kernel of {kernel} does not fit in {n} pixels padded by {padding}")
    return (n + 2 * padding - kernel) // stride + 1


def _geometry(layer: nn.Module) -> tuple[int, int, int]:
    """``(kernel, stride, padding)`` along the height of a convolution (``ConvBN2d``) or pooling layer."""
    mod = layer.conv if isinstance(layer, ConvBN2d) else layer

    def first(v):
        return v[0] if isinstance(v, (tuple, list)) else v

    return first(mod.kernel_size), first(mod.stride), first(mod.padding)


def _first_path(block: nn.Module) -> list[nn.Module]:
    """The layers of a block's first branch (every branch of an Inception block ends at the same size)."""
    branch = next(block.children())
    return list(branch.children()) if isinstance(branch, nn.Sequential) and not isinstance(branch, ConvBN2d) \
        else [branch]


def grid_sizes(model: nn.Module, image_size: int) -> pd.DataFrame:
    """The height (= width) of the feature maps after each layer of ``model.features`` for a square input of
    ``image_size`` pixels: by :func:`conv_output_size` (a block by its first branch) and by a forward pass of zeros.

    Columns ``layer``, ``kernel``, ``stride``, ``padding``, ``size (formula)``, ``size (forward pass)``,
    ``channels``.
    """
    rows, n = [], int(image_size)
    for name, layer in model.features.named_children():
        path = _first_path(layer) if isinstance(layer, Branches) else [layer]
        geometry = [_geometry(p) for p in path]
        for k, s, p in geometry:
            n = conv_output_size(n, k, s, p)
        if isinstance(layer, Branches):
            kernel, stride, padding = "block", max(s for _, s, _ in geometry), "-"
        else:
            kernel, stride, padding = geometry[0]
        rows.append({"layer": name, "kernel": kernel, "stride": stride, "padding": padding, "size (formula)": n})
    measured = {}
    hooks = [layer.register_forward_hook(lambda m, i, o, name=name: measured.__setitem__(name, tuple(o.shape)))
             for name, layer in model.features.named_children()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model.features(torch.zeros(1, model.in_channels, image_size, image_size))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    table = pd.DataFrame(rows)
    table["size (forward pass)"] = [measured[name][-1] for name in table["layer"]]
    table["channels"] = [measured[name][1] for name in table["layer"]]
    return table


def _pair_weights(first: ConvBN2d, second: ConvBN2d) -> tuple[int, int]:
    """Weights of a factorised pair (1 x n then n x 1, or the reverse) and of the one n x n convolution it replaces
    (from the first layer's input channels to the second layer's output channels)."""
    k = max(first.conv.kernel_size)
    counted = first.conv.weight.numel() + second.conv.weight.numel()
    return counted, k * k * first.conv.in_channels * second.conv.out_channels


def factorised_weights(model: nn.Module) -> pd.DataFrame:
    """For every block C of the 2D-ConvNet (the ``InceptionC`` blocks ``mixed4``-``mixed6``): its width ``c7``, the
    weights of the 1 x 7 + 7 x 1 pair of its ``branch7x7`` counted on the layers themselves, the same by the formula
    ``7 c7 c7 + 7 c7 192``, what one 7 x 7 convolution ``c7 -> 192`` would hold (``49 c7 192``), the saving, and the
    same for the whole block (each of its three factorised pairs replaced by one 7 x 7; BatchNorm left out)."""
    rows = {}
    for name, block in model.features.named_children():
        if type(block).__name__ != "InceptionC":
            continue
        one_by_one, conv_1x7, conv_7x1 = block.branch7x7
        c7 = one_by_one.conv.out_channels
        pair, square = _pair_weights(conv_1x7, conv_7x1)
        block_weights = sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d))
        unfactorised = block_weights
        for branch in (block.branch7x7, block.branch7x7dbl):
            factorised = [layer for layer in branch if max(layer.conv.kernel_size) > 1]
            for first, second in zip(factorised[::2], factorised[1::2]):
                counted, replaced = _pair_weights(first, second)
                unfactorised += replaced - counted
        rows[name] = {"c7": c7, "1x7 + 7x1 weights (counted)": pair, "1x7 + 7x1 (formula)": 7 * c7 * c7 + 7 * c7 * 192,
                      "one 7x7": square, "saving": 1 - pair / square, "block weights": block_weights,
                      "block with 7x7 kernels": unfactorised, "block saving": 1 - block_weights / unfactorised}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "block"
    return table


def multiply_adds(model: nn.Module, image_size: int) -> int:
    """Multiply-adds of one forward pass of a ``3 x image_size x image_size`` image: for every convolution and
    dense layer, (output values) x (inputs each output value reads)."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        total += output.numel() * module.weight[0].numel()

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, model.in_channels, image_size, image_size))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return total


def input_cost(model: nn.Module, sizes: Sequence[int] = (96, 299)) -> pd.DataFrame:
    """Pixels and multiply-adds of one image of each size in ``sizes``, and both as multiples of the first size's:
    the rule of thumb "cost grows with the pixels" against the count of the network's own arithmetic."""
    rows = {}
    for n in sizes:
        rows[f"{n} x {n}"] = {"pixels": n * n, "multiply-adds (millions)": multiply_adds(model, n) / 1e6}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table["pixels ratio"] = table["pixels"] / table["pixels"].iloc[0]
    table["multiply-adds ratio"] = table["multiply-adds (millions)"] / table["multiply-adds (millions)"].iloc[0]
    table.index.name = "input"
    return table


def feature_verdict(table: pd.DataFrame, value: str = "validation accuracy", sd: str = "sd over folds") -> pd.Series:
    """Which row of a study table (our part of Table 4: one row per feature, the mean ``value`` over folds and its
    ``sd``) is best, its lead over the runner-up, the spread that lead must beat (the larger sd of the two rows),
    and whether it beats it. Rows without a value (not trained) are left out; with one fold there is no sd, and
    ``decided`` is ``False``."""
    rows = table[[value, sd]].astype(float).dropna(subset=[value]).sort_values(value, ascending=False)
    if len(rows) < 2:
        raise ValueError(f"need at least two trained rows to compare, got {len(rows)}")
    best, second = rows.index[0], rows.index[1]
    gap = float(rows[value].iloc[0] - rows[value].iloc[1])
    spread = float(rows[sd].iloc[:2].max())
    decided = bool(math.isfinite(spread) and gap > spread)
    return pd.Series({"best": best, "runner-up": second, "gap": gap, "larger sd of the two": spread,
                      "gap larger than the sd": decided})


__all__ = ["conv_output_size", "grid_sizes", "factorised_weights", "multiply_adds", "input_cost", "feature_verdict"]


if __name__ == "__main__":   # pragma: no cover - a quick look
    from audiotag.models import build_model

    m = build_model("inception2d")
    print(grid_sizes(m, 96).to_string())
    print(factorised_weights(m).to_string())
    print(input_cost(m).to_string())
    print(feature_verdict(pd.DataFrame({"validation accuracy": [0.7, 0.72, np.nan], "sd over folds": [0.01, 0.03, 0]},
                                       index=["a", "b", "c"])))
