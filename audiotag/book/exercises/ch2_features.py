"""Solutions of chapter 2's exercises (*Features and augmentation*, ``notebooks/02_features.ipynb``).

One small, pure function per computation a solution needs (``tests/test_exercises_ch2.py`` checks each against a
value known in closed form or against librosa):

* ``ex-features-mel`` (hertz to mels and back): :func:`hz_to_mel`, :func:`mel_to_hz`;
* ``ex-features-resolution`` (what a window and a hop resolve): :func:`resolution_table`, :func:`crop_frames`,
  :func:`sine`, :func:`sine_peak_bin`, :func:`mean_power_db`;
* ``ex-features-bands`` (where the mel bands lie): :func:`mel_band_table`;
* ``ex-features-mixup`` (how Beta(alpha, alpha) mixes): :func:`beta_lambda_stats`.

The chapter's text uses :func:`resolution_table` too (the resolutions of the paper's windows). The exercises
``ex-features-window`` (window length in the in-page feature explorer, and a recording of your own) and the
listening parts of the others are tasks in the explorers and have no function.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch

from audiotag.data.labels import SAMPLE_RATE
from audiotag.features.augment import sample_mixup
from audiotag.features.spectral import n_frames, stft_power

#: The mel scale of equation (mel): ``m = MEL_Q * log10(1 + f / MEL_BREAK_HZ)`` (O'Shaughnessy's, HTK's).
MEL_Q = 2595.0
MEL_BREAK_HZ = 700.0


# ---------------------------------------------------------------------------------------------- ex-features-mel
def hz_to_mel(hz):
    """Mels of frequencies in Hz: ``2595 log10(1 + f / 700)`` (1000 Hz is about 1000 mel).

    This is the textbook (HTK) mel scale, ``librosa.hz_to_mel(f, htk=True)``. librosa's default, which the
    package's filterbank uses, is Slaney's variant (linear below 1 kHz, logarithmic above, in other units): same
    shape, different numbers. Takes a number or an array; returns the same.
    """
    out = MEL_Q * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / MEL_BREAK_HZ)
    return float(out) if out.ndim == 0 else out


def mel_to_hz(mel):
    """Frequencies in Hz of mels, the inverse of :func:`hz_to_mel`: ``700 (10^(m / 2595) - 1)``."""
    out = MEL_BREAK_HZ * (10.0 ** (np.asarray(mel, dtype=np.float64) / MEL_Q) - 1.0)
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------------------- ex-features-resolution
def resolution_table(windows: Sequence[int] = (1024, 2048, 8192, 16384), hop_length: int = 512,
                     sample_rate: int = SAMPLE_RATE) -> pd.DataFrame:
    """What an STFT of each window (= FFT size ``N``) at ``hop_length`` ``H`` resolves, one row per window.

    Columns: the window in samples and in ms (``N / f_s``), the bin spacing ``f_s / N`` in Hz, the number of
    frequency bins ``N / 2 + 1``, the hop in ms (``H / f_s``: the time step between frames) and the overlap of
    consecutive frames in percent (``1 - H / N``).
    """
    rows = []
    for n_fft in windows:
        rows.append({"window (samples)": int(n_fft),
                     "window (ms)": 1000.0 * n_fft / sample_rate,
                     "bin spacing (Hz)": sample_rate / n_fft,
                     "frequency bins": n_fft // 2 + 1,
                     "hop (ms)": 1000.0 * hop_length / sample_rate,
                     "overlap (%)": 100.0 * max(0.0, 1.0 - hop_length / n_fft)})
    return pd.DataFrame(rows).set_index("window (samples)")


def crop_frames(seconds: float, hop_length: int = 512, sample_rate: int = SAMPLE_RATE) -> int:
    """Frames of the centred STFT of a crop of ``seconds``: ``1 + floor(N / H)`` with ``N = round(seconds f_s)``
    samples (:func:`audiotag.features.spectral.n_frames`)."""
    return n_frames(int(round(seconds * sample_rate)), hop_length)


def sine(frequency: float, sample_rate: int = SAMPLE_RATE, seconds: float = 1.0,
         amplitude: float = 1.0) -> np.ndarray:
    """A sine ``amplitude * sin(2 pi f t)`` of ``seconds`` at ``sample_rate`` Hz (float64)."""
    t = np.arange(int(round(seconds * sample_rate))) / float(sample_rate)
    return amplitude * np.sin(2.0 * np.pi * frequency * t)


def sine_peak_bin(frequency: float, sample_rate: int = SAMPLE_RATE, n_fft: int = 2048,
                  hop_length: int = 512, seconds: float = 0.5) -> int:
    """The FFT bin where the power spectrogram of a sine of ``frequency`` Hz peaks (averaged over frames).

    Bin ``k`` is centred on ``k f_s / N`` Hz, so the peak lands in ``round(f N / f_s)``: 46 for 1 kHz at the
    paper's ``N = 2048``, 44.1 kHz. The spectrogram is the package's (:func:`~audiotag.features.spectral.stft_power`,
    Hamming window).
    """
    wave = torch.as_tensor(sine(frequency, sample_rate, seconds))
    power = stft_power(wave, n_fft=n_fft, hop_length=hop_length)           # (1 + N / 2, T)
    return int(power.mean(dim=-1).argmax())


def mean_power_db(wave: np.ndarray, ref: float = 1.0) -> float:
    """The mean power of a waveform in decibels: ``10 log10(mean(x^2) / ref)`` (a full-scale sine: -3.01 dB)."""
    power = float(np.mean(np.square(np.asarray(wave, dtype=np.float64))))
    return 10.0 * np.log10(max(power, 1e-20) / ref)


# -------------------------------------------------------------------------------------------- ex-features-bands
def mel_band_table(n_mels: int = 128, sample_rate: int = SAMPLE_RATE, fmin: float = 0.0,
                   fmax: float | None = None) -> pd.DataFrame:
    """The bands of ``librosa.filters.mel`` (the package's filterbank): one row per band, lowest first.

    Band ``j``'s triangle rises from edge ``j``, peaks at edge ``j + 1`` (its centre) and falls to edge ``j + 2``
    of ``n_mels + 2`` edges equally spaced on librosa's (Slaney) mel scale between ``fmin`` and ``fmax``
    (``None``: the Nyquist frequency ``f_s / 2``). Columns in Hz: lower edge, centre, upper edge and width (upper
    minus lower edge).
    """
    import librosa

    fmax = sample_rate / 2 if fmax is None else fmax
    edges = librosa.mel_frequencies(n_mels=n_mels + 2, fmin=fmin, fmax=fmax)
    table = pd.DataFrame({"lower edge (Hz)": edges[:-2], "centre (Hz)": edges[1:-1], "upper edge (Hz)": edges[2:]})
    table["width (Hz)"] = table["upper edge (Hz)"] - table["lower edge (Hz)"]
    table.index = pd.RangeIndex(n_mels, name="band")
    return table


# -------------------------------------------------------------------------------------------- ex-features-mixup
def beta_lambda_stats(alphas: Sequence[float] = (0.2, 0.4, 1.0), n: int = 20000, seed: int = 0,
                      edge: float = 0.1) -> pd.DataFrame:
    """Mixup's weight ``lambda ~ Beta(alpha, alpha)``, sampled ``n`` times per alpha with the package's sampler
    (:func:`~audiotag.features.augment.sample_mixup`), one row per alpha.

    Columns: the sampled mean (in theory 0.5 for every alpha: the Beta is symmetric), the sampled standard
    deviation and the theoretical one ``sqrt(1 / (4 (2 alpha + 1)))``, and the share of draws within ``edge`` of
    0 or 1 (mixes that are almost one clip alone).
    """
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for alpha in alphas:
        lam, _ = sample_mixup(n, float(alpha), per_sample=True, generator=generator)
        lam = lam.numpy()
        rows.append({"alpha": float(alpha), "mean lambda": float(lam.mean()), "std lambda": float(lam.std()),
                     "std in theory": float(np.sqrt(1.0 / (4.0 * (2.0 * alpha + 1.0)))),
                     f"share within {edge:g} of 0 or 1": float(np.mean((lam < edge) | (lam > 1.0 - edge)))})
    return pd.DataFrame(rows).set_index("alpha")
