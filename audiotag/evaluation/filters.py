"""What the 1D-ConvNet's first layer learned: its 48 kernels of 80 samples read as a filterbank.

The raw-waveform network (paper Table 1) starts with a wide strided convolution, ``Conv1d(1, 48, 80, stride=4)``.
Each of its 48 kernels slides over the waveform and outputs one number per position: it is an FIR filter with 80
taps, and its *frequency response* -- the magnitude of the kernel's discrete Fourier transform -- says which
frequencies it passes. A 2D network is given a fixed filterbank (the mel filters of its log-mel input); the 1D
network has to learn one, and this module shows what it learned:

* :func:`first_layer_responses` -- the magnitude response (dB) of every kernel of the first ``Conv1d``, its peak
  frequency and -3 dB bandwidth, and the order that sorts the kernels by peak frequency (:class:`FilterResponses`).
  PyTorch's convolution is a cross-correlation (the kernel is not flipped); a flipped kernel has the same
  *magnitude* response, so this does not matter here.
* :func:`initial_model` -- the same network as the trainer initialised it for a fold, before any training, so
  that "learned" can be told from "was there at initialisation" (random 80-tap kernels are already filters, with
  peaks anywhere).
* :func:`mel_filterbank_responses` -- librosa's mel filterbank (the one the 2D features use,
  :func:`audiotag.features.spectral.mel_filterbank`) in the same form, for comparison.
* :func:`filter_summary` -- a table: how many filters peak below 1 kHz, between 1 and 4 kHz and above 4 kHz, and
  the spread of their peaks.

Frequency resolution: an ``n_fft``-point transform of an 80-tap kernel samples its (continuous) response every
``sample_rate / n_fft`` Hz (15.6 Hz at 16 kHz and ``n_fft=1024``); the response itself cannot be sharper than
about ``sample_rate / 80`` (200 Hz at 16 kHz), the main-lobe width of an 80-sample window. Zero-padding to
``n_fft`` only interpolates the curve.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from audiotag.features.spectral import mel_filterbank
from audiotag.training.checkpoint import Checkpoint, load_checkpoint
from audiotag.training.config import TrainConfig
from audiotag.training.devices import restore_rng_states, rng_states, seed_everything
from audiotag.training.runs import RunDir

#: Lowest dB value kept: the response is floored this far below the filter's own peak (zeros of the response are
#: -inf dB, which an image cannot show).
FLOOR_DB = -80.0
#: Band edges (Hz) of :func:`filter_summary`: below 1 kHz, 1-4 kHz, above 4 kHz.
SUMMARY_EDGES = (1000.0, 4000.0)


@dataclass(frozen=True)
class FilterResponses:
    """Magnitude responses of a bank of filters, one row per filter.

    ``freqs`` (n_freqs,) Hz, from 0 to the Nyquist frequency; ``db`` (n_filters, n_freqs) the magnitude in dB
    relative to each filter's own peak (so every row peaks at 0 dB; floored at :data:`FLOOR_DB`);
    ``gain_db`` (n_filters,) each filter's peak magnitude in absolute dB (how loud the filter is, lost by the
    relative scale); ``peak_hz`` (n_filters,) the frequency of each filter's peak; ``bandwidth_hz`` (n_filters,)
    the width of the contiguous region around the peak within 3 dB of it; ``order`` the filter indices sorted by
    peak frequency (ties by index), which is how the filters are usually drawn.
    """

    freqs: np.ndarray
    db: np.ndarray
    gain_db: np.ndarray
    peak_hz: np.ndarray
    bandwidth_hz: np.ndarray
    order: np.ndarray
    sample_rate: int
    name: str = ""

    def __len__(self) -> int:
        return len(self.db)

    @property
    def sorted_db(self) -> np.ndarray:
        """``db`` with its rows in :attr:`order` (lowest peak frequency first): the image to draw."""
        return self.db[self.order]

    @property
    def sorted_peak_hz(self) -> np.ndarray:
        return self.peak_hz[self.order]


def responses_from_magnitudes(magnitudes: np.ndarray, freqs: np.ndarray, sample_rate: int,
                              name: str = "") -> FilterResponses:
    """A :class:`FilterResponses` from linear magnitudes ``(n_filters, n_freqs)`` sampled at ``freqs`` (Hz)."""
    mag = np.asarray(magnitudes, dtype=np.float64)
    freqs = np.asarray(freqs, dtype=np.float64)
    if mag.ndim != 2 or mag.shape[1] != len(freqs):
        raise ValueError(f"magnitudes must be (n_filters, {len(freqs)}), got shape {mag.shape}")
    peak = mag.max(axis=1)
    tiny = np.finfo(np.float64).tiny
    gain_db = 20 * np.log10(np.maximum(peak, tiny))
    rel = 20 * np.log10(np.maximum(mag, tiny)) - gain_db[:, None]
    rel = np.maximum(rel, FLOOR_DB)
    peak_bin = mag.argmax(axis=1)
    peak_hz = freqs[peak_bin]
    order = np.lexsort((np.arange(len(mag)), peak_hz))
    return FilterResponses(freqs=freqs, db=rel, gain_db=gain_db, peak_hz=peak_hz,
                           bandwidth_hz=_bandwidths(rel, peak_bin, freqs), order=order,
                           sample_rate=int(sample_rate), name=name)


def _bandwidths(rel_db: np.ndarray, peak_bin: np.ndarray, freqs: np.ndarray, drop_db: float = 3.0) -> np.ndarray:
    """Width (Hz) of the run of bins around each peak that stays within ``drop_db`` of it."""
    out = np.empty(len(rel_db))
    for i, (row, p) in enumerate(zip(rel_db, peak_bin)):
        inside = row >= -drop_db
        lo = p
        while lo > 0 and inside[lo - 1]:
            lo -= 1
        hi = p
        while hi < len(row) - 1 and inside[hi + 1]:
            hi += 1
        out[i] = freqs[hi] - freqs[lo]
    return out


def kernel_responses(kernels: np.ndarray, sample_rate: int, n_fft: int = 1024, name: str = "") -> FilterResponses:
    """Magnitude responses of FIR kernels ``(n_filters, taps)``: ``|rfft(kernel, n_fft)|`` at
    ``rfftfreq(n_fft, 1 / sample_rate)`` (``n_fft // 2 + 1`` frequencies from 0 to Nyquist)."""
    k = np.asarray(kernels, dtype=np.float64)
    if k.ndim != 2:
        raise ValueError(f"kernels must be (n_filters, taps), got shape {k.shape}")
    if n_fft < k.shape[1]:
        raise ValueError(f"n_fft={n_fft} is shorter than the kernels ({k.shape[1]} taps)")
    mag = np.abs(np.fft.rfft(k, n=n_fft, axis=1))
    return responses_from_magnitudes(mag, np.fft.rfftfreq(n_fft, 1.0 / sample_rate), sample_rate, name)


def first_conv1d(model: nn.Module) -> nn.Conv1d:
    """The first ``Conv1d`` of ``model`` in definition order (the 1D-ConvNet's stem, ``features.stem.conv``)."""
    for module in model.modules():
        if isinstance(module, nn.Conv1d):
            return module
    raise ValueError(f"{type(model).__name__} has no Conv1d layer: filter responses need the raw-waveform network")


def first_layer_responses(model: nn.Module, sample_rate: int, n_fft: int = 1024, name: str = "") -> FilterResponses:
    """The magnitude responses of the kernels of ``model``'s first ``Conv1d`` (48 kernels of 80 taps in the paper's
    1D-ConvNet), at ``sample_rate`` -- the rate the network was trained at (``checkpoint.features.sample_rate``;
    16 kHz under the ``cpu`` profile, 44.1 kHz in the paper), which turns "cycles per sample" into Hz.

    Only the kernels count: the layer's bias and the BatchNorm after it shift and scale each output but do not
    change which frequencies a kernel passes.
    """
    conv = first_conv1d(model)
    if conv.in_channels != 1:
        raise ValueError(f"the first Conv1d reads {conv.in_channels} channels; a filterbank needs one (a waveform)")
    kernels = conv.weight.detach().float().cpu().numpy()[:, 0, :]
    return kernel_responses(kernels, sample_rate, n_fft, name)


def mel_filterbank_responses(sample_rate: int, n_mels: int, n_fft: int, fmin: float = 0.0,
                             fmax: float | None = None, name: str = "mel filterbank") -> FilterResponses:
    """librosa's mel filterbank (Slaney scale, area-normalised: ``librosa.filters.mel``, as the log-mel features
    use it) as :class:`FilterResponses`: each triangle's weights over the ``n_fft // 2 + 1`` FFT bins.

    The triangles are already ordered by centre frequency. Area normalisation makes the wide high bands lower
    (``gain_db`` falls with frequency); the relative ``db`` rows all peak at 0 dB.
    """
    fb = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, dtype=torch.float64).numpy()
    return responses_from_magnitudes(fb, np.fft.rfftfreq(n_fft, 1.0 / sample_rate), sample_rate, name)


# --------------------------------------------------------------------------------------------------------------
# The network before training
# --------------------------------------------------------------------------------------------------------------
def fold_seed(seed: int, fold: int) -> int:
    """The seed the trainer sets before building fold ``fold``'s model: ``seed * 1000 + fold``
    (:meth:`audiotag.training.trainer._Engine.train_fold`; ``tests/test_inside.py`` checks the two agree)."""
    return int(seed) * 1000 + int(fold)


def initial_model(source: TrainConfig | Checkpoint | RunDir | str | os.PathLike, fold: int | None = None,
                  seed: int | None = None) -> nn.Module:
    """The network exactly as the trainer initialised it for ``fold``, before its first step (eval mode, CPU).

    The trainer seeds every generator with :func:`fold_seed` (``seed * 1000 + fold``) and builds the model right
    away with ``build_model(name, n_classes, **model_kwargs)`` on the CPU, moving it to the training device only
    afterwards; nothing draws random numbers in between. So rebuilding it the same way gives the same weights,
    bit for bit, whichever device trained the run.

    ``source`` is one of

    * a run directory (:class:`~audiotag.training.runs.RunDir` or its path): its ``config.json`` gives model,
      arguments, classes and seed; ``fold`` is required;
    * a checkpoint file (``runs/NAME/fold_K/checkpoint.pt``): model and classes from the checkpoint, the fold from
      its ``info``, the seed from the run's ``config.json`` two folders up (or ``seed=``);
    * a loaded :class:`~audiotag.training.checkpoint.Checkpoint` (give ``seed=`` unless its ``info``
      names it; ``fold`` defaults to ``info["fold"]``);
    * a :class:`~audiotag.training.config.TrainConfig` (41 classes; ``fold`` is required).

    The process's random states (Python, numpy, torch) are restored afterwards, so calling this does not change
    what a later random draw gives.
    """
    from audiotag.models import build_model

    name, kwargs, n_classes, run_seed, checkpoint_fold = _model_recipe(source)
    fold = checkpoint_fold if fold is None else fold
    if fold is None:
        raise ValueError("initial_model: which fold? (the seed depends on it: seed * 1000 + fold)")
    seed = run_seed if seed is None else seed
    if seed is None:
        raise ValueError("initial_model: the run's seed is unknown (no config.json beside the checkpoint); "
                         "give seed=")
    saved = rng_states()
    try:
        seed_everything(fold_seed(seed, fold))
        model = build_model(name, n_classes=n_classes, **kwargs)
    finally:
        restore_rng_states(saved)
    return model.eval()


def _model_recipe(source) -> tuple[str, dict, int, int | None, int | None]:
    """(model name, model kwargs, number of classes, run seed, fold) of an :func:`initial_model` source; seed and
    fold are None where the source does not say."""
    if isinstance(source, TrainConfig):
        return source.model, dict(source.model_kwargs), 41, source.seed, None
    path = None
    if not isinstance(source, Checkpoint):
        path = Path(source.path if isinstance(source, RunDir) else source)
        if path.is_dir():
            config = RunDir(path).config()
            return (config["model"], dict(config.get("model_kwargs") or {}), len(config["classes"]),
                    int(config["seed"]), None)
    ckpt = source if path is None else load_checkpoint(path)
    seed = ckpt.info.get("seed")
    if path is not None and (path.parent.parent / "config.json").exists():
        seed = RunDir(path.parent.parent).config()["seed"]
    fold = ckpt.info.get("fold")
    return (ckpt.model_name, dict(ckpt.model_kwargs), len(ckpt.classes), None if seed is None else int(seed),
            None if fold is None else int(fold))


# --------------------------------------------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------------------------------------------
def filter_summary(responses: FilterResponses | Mapping[str, FilterResponses],
                   edges: Sequence[float] = SUMMARY_EDGES) -> pd.DataFrame:
    """One row per filterbank: how many filters peak in each band (default below 1 kHz, 1-4 kHz, above 4 kHz), and
    the spread of the peaks (median, 10th and 90th percentile, in Hz), the median -3 dB bandwidth, and how many
    *distinct* peak frequencies there are (48 filters peaking at 12 places is a coarser bank than it looks).

    A band that lies above the Nyquist frequency (4 kHz at 8 kHz sampling) is still listed, with 0 filters.
    """
    banks = {responses.name or "filters": responses} if isinstance(responses, FilterResponses) else dict(responses)
    edges = [float(e) for e in edges]
    labels = _band_labels(edges)
    rows = []
    for name, r in banks.items():
        counts = np.histogram(r.peak_hz, bins=[0.0, *edges, np.inf])[0]
        row = {"bank": name, "filters": len(r)}
        row.update({label: int(c) for label, c in zip(labels, counts)})
        row.update({"median peak (Hz)": float(np.median(r.peak_hz)),
                    "p10 peak (Hz)": float(np.percentile(r.peak_hz, 10)),
                    "p90 peak (Hz)": float(np.percentile(r.peak_hz, 90)),
                    "distinct peaks": int(len(np.unique(r.peak_hz))),
                    "median -3 dB width (Hz)": float(np.median(r.bandwidth_hz))})
        rows.append(row)
    return pd.DataFrame(rows).set_index("bank")


def _band_labels(edges: Sequence[float]) -> list[str]:
    def khz(f):
        return f"{f / 1000:g} kHz"

    labels = [f"below {khz(edges[0])}"]
    labels += [f"{khz(a)}-{khz(b)}" for a, b in zip(edges[:-1], edges[1:])]
    labels.append(f"above {khz(edges[-1])}")
    return labels
