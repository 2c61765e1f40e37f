"""Solutions of chapter 3's exercises ("The 1D-ConvNet on raw waveforms").

One small function per exercise that computes something; the chapter's solution cells call them, and
``tests/test_exercises_ch3.py`` checks them:

* ``ex-conv1d-receptive`` - :func:`receptive_field_milestones`: the receptive field after the first residual block and
  at the output, in samples and milliseconds;
* ``ex-conv1d-map3`` - :func:`map3_by_hand`: MAP@3 of a few ranked predictions, clip by clip;
* ``ex-conv1d-params`` - :func:`first_layer_parameters`: the first convolution's parameters, by formula and counted;
* ``ex-conv1d-filters`` - :func:`moving_average`, :func:`learned_filters`, :func:`frequency_responses`,
  :func:`response_figure`: an 80-tap moving average against a filter the network learned;
* ``ex-conv1d-folds`` - :func:`fold_class_counts`: how many clips of each class every fold validates.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from torch import nn

from audiotag.models.receptive_field import receptive_field_table


# ----------------------------------------------------------------------------------------- ex-conv1d-receptive
def receptive_field_milestones(models: Mapping[str, nn.Module], sample_rates: Mapping[str, int]) -> pd.DataFrame:
    """The receptive field of 1D-ConvNets after their first residual block and at their last convolution (the input
    of global average pooling), one row per named model, in samples and in milliseconds at each of ``sample_rates``
    (``{"16 kHz": 16000}``). Columns are pairs ``(where, unit)``: ``("after the first residual block", "samples")``,
    ``("at the output", "ms, 16 kHz")``, ...

    The first residual block is the block whose layers are named ``stage1_block1...``; its last convolution gives
    the block's output."""
    rows = {}
    for name, model in models.items():
        table = receptive_field_table(model, sample_rates)
        first_block = [layer for layer in table.index if layer.startswith("stage1_block1")]
        if not first_block:
            raise ValueError(f"{name}: no layer named stage1_block1...: is it the 1D-ConvNet?")
        row = {}
        for where, layer in (("after the first residual block", table.loc[first_block[-1]]),
                             ("at the output", table.iloc[-1])):
            row[(where, "samples")] = int(layer["receptive field (samples)"])
            for label in sample_rates:
                row[(where, f"ms, {label}")] = float(layer[f"receptive field (ms, {label})"])
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table


# ----------------------------------------------------------------------------------------------- ex-conv1d-map3
def map3_by_hand(rankings: Sequence[Sequence[str]], truths: Sequence[str]) -> pd.DataFrame:
    """Score ranked predictions as Kaggle's MAP@3 did, one row per clip: the true label, the first three predicted
    labels, the rank of the true label among them (0: not in the top 3) and the clip's score ``1 / rank`` (0 when
    absent). MAP@3 is the mean of the ``AP@3`` column."""
    if len(rankings) != len(truths):
        raise ValueError(f"{len(rankings)} rankings but {len(truths)} true labels")
    rows = []
    for i, (ranking, truth) in enumerate(zip(rankings, truths), start=1):
        top3 = list(ranking)[:3]
        rank = top3.index(truth) + 1 if truth in top3 else 0
        rows.append({"clip": i, "true label": truth,
                     **{f"guess {j + 1}": (top3[j] if j < len(top3) else None) for j in range(3)},
                     "rank of the truth": rank, "AP@3": 1.0 / rank if rank else 0.0})
    return pd.DataFrame(rows).set_index("clip")


# --------------------------------------------------------------------------------------------- ex-conv1d-params
def first_layer_parameters(model: nn.Module) -> pd.DataFrame:
    """The first convolution of ``model`` (its first ``Conv1d``): kernel ``K``, input channels ``C_in``, filters
    ``C_out``, and its parameter count by the formula ``K * C_in * C_out + C_out`` (weights + one bias per filter)
    beside the count of the tensors themselves."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv1d)), None)
    if conv is None:
        raise ValueError(f"{type(model).__name__} has no Conv1d layer")
    k, c_in, c_out = conv.kernel_size[0], conv.in_channels, conv.out_channels
    formula = k * c_in * c_out + (c_out if conv.bias is not None else 0)
    counted = sum(p.numel() for p in conv.parameters())
    return pd.DataFrame({"kernel (samples)": [k], "input channels": [c_in], "filters": [c_out],
                         "by the formula": [formula], "counted in the model": [counted]},
                        index=pd.Index(["first convolution"]))


# -------------------------------------------------------------------------------------------- ex-conv1d-filters
def moving_average(length: int = 80) -> np.ndarray:
    """An ``length``-tap moving average: every weight ``1 / length`` (a convolution that only smooths)."""
    return np.full(int(length), 1.0 / int(length))


def learned_filters(checkpoint_path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """The first-layer filters of a trained 1D-ConvNet checkpoint, ``(n_filters, kernel)``, and the sample rate the
    network was trained at (Hz)."""
    from audiotag.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint_path)
    key = "features.stem.conv.weight"
    if key not in ckpt.state_dict:
        raise ValueError(f"{os.path.basename(str(checkpoint_path))}: no {key} (not a 1D-ConvNet checkpoint?)")
    return ckpt.state_dict[key][:, 0, :].float().numpy(), int(ckpt.features.sample_rate)


def frequency_responses(filters: Mapping[str, np.ndarray], sample_rate: int, n_fft: int = 2048) -> pd.DataFrame:
    """Magnitude responses of FIR filters in dB relative to each filter's own peak (0 dB at its peak), from the
    zero-padded FFT of its taps: one column per filter, indexed by frequency in Hz (0 to ``sample_rate / 2``)."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    columns = {}
    for name, taps in filters.items():
        magnitude = np.abs(np.fft.rfft(np.asarray(taps, dtype=float), n=n_fft))
        columns[name] = 20 * np.log10(np.maximum(magnitude / max(magnitude.max(), 1e-12), 1e-6))
    return pd.DataFrame(columns, index=pd.Index(freqs, name="frequency (Hz)"))


def response_figure(responses: pd.DataFrame, floor_db: float = -60.0,
                    title: str = "Frequency responses of first-layer filters") -> Figure:
    """The responses of :func:`frequency_responses` as lines, frequency in kHz against dB."""
    fig = Figure(figsize=(7.5, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for name in responses.columns:
        ax.plot(responses.index / 1000.0, responses[name].clip(lower=floor_db), label=name, linewidth=1)
    ax.set_xlabel("frequency (kHz)")
    ax.set_ylabel("gain (dB re peak)")
    ax.set_ylim(floor_db, 3)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title)
    return fig


# ---------------------------------------------------------------------------------------------- ex-conv1d-folds
def fold_class_counts(split: pd.DataFrame) -> pd.DataFrame:
    """Clips per class (rows) that each fold validates (columns ``fold 0`` ...), from a run's ``split.csv``
    (columns ``label`` and ``fold``), with a last row ``all classes``."""
    counts = pd.crosstab(split["label"], split["fold"])
    counts.columns = [f"fold {k}" for k in counts.columns]
    counts.index.name = "class"
    counts.loc["all classes"] = counts.sum()
    return counts
