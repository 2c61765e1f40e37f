"""Chapter 1, "The data": the solutions of its exercises, and the spectrum its sample-rate figure draws.

One small function per exercise that computes something (data in, result out), so the solution a reader reveals in
the page is code that ``tests/test_exercises_ch1.py`` runs:

* ``ex-data-bytes``: :func:`pcm_facts`, the Nyquist frequency and the bytes per second of uncompressed audio;
* ``ex-data-low-rate``: :func:`what_a_rate_removes`, a clip at a lower sample rate and the share of its energy that
  rate cannot hold (the chapter's figure uses :func:`average_spectrum`, which it is built on);
* ``ex-data-noisy-class``: :func:`least_verified_class`, the class with the lowest verified share and how many of
  its labels are probably (and, on the synthetic corpus, actually) wrong;
* ``ex-data-leaderboard``: :func:`score_standard_error` and :func:`clips_for_standard_error`, how noisy a score on
  ``n`` clips is, and how many clips a given precision needs;
* ``ex-data-longest``: :func:`longest_share`, the share of all the audio that the longest clips hold.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd


# ------------------------------------------------------------------------------------------------ ex-data-bytes
def pcm_facts(sample_rate: int = 44100, bits: int = 16, channels: int = 1, seconds: float | None = None) -> dict:
    """What a PCM (uncompressed) recording costs: ``nyquist_hz`` (= sample_rate / 2, the highest frequency it can
    hold), ``bytes_per_second`` (= sample_rate * bits / 8 * channels), ``megabytes_per_hour`` (10^6 bytes), and with
    ``seconds`` the ``bytes`` of that much audio (without the file's header, 44 bytes for a WAV)."""
    if sample_rate <= 0 or bits <= 0 or bits % 8 or channels <= 0:
        raise ValueError(f"need a positive rate, whole bytes per sample and channels; got {sample_rate} Hz, "
                         f"{bits} bits, {channels} channel(s)")
    per_second = sample_rate * bits // 8 * channels
    facts = {"nyquist_hz": sample_rate / 2, "bytes_per_second": per_second,
             "megabytes_per_hour": per_second * 3600 / 1e6}
    if seconds is not None:
        facts["bytes"] = int(round(per_second * float(seconds)))
    return facts


# --------------------------------------------------------------------------------------------- ex-data-low-rate
def average_spectrum(wave: np.ndarray, sample_rate: int, n_fft: int = 2048,
                     resolution_hz: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The clip's average power spectral density: ``(frequencies in Hz, power per Hz)``, 0 to ``sample_rate / 2``.

    Welch's method (``scipy.signal.welch``): the power of Hann-windowed frames of ``n_fft`` samples (hop
    ``n_fft // 4``), averaged over time and scaled to power per hertz, one-sided, so that the density summed over the
    bins times the bin width is the clip's mean square, and the same sound sampled at two rates has the same density
    below both Nyquist frequencies. ``resolution_hz`` (optional) replaces ``n_fft`` by the even frame length whose
    bins are that wide: two versions of a clip at different rates analysed with the same bin width show their tones
    at the same height too. A clip shorter than one frame is analysed as one frame of its own length."""
    from scipy.signal import welch

    if resolution_hz is not None:
        n_fft = max(2, 2 * int(round(sample_rate / resolution_hz / 2)))
    x = np.asarray(wave, dtype=np.float64).reshape(-1)
    n = max(2, min(int(n_fft), x.size))
    freqs, density = welch(x, fs=sample_rate, window="hann", nperseg=n, noverlap=n - max(1, n // 4),
                           scaling="density", detrend=False)
    return freqs, density


def what_a_rate_removes(wave: np.ndarray, sample_rate: int, low_rate: int = 8000) -> dict:
    """The clip at ``low_rate`` Hz and what that rate removes.

    Returns ``low`` (the resampled wave, :func:`audiotag.data.audio.resample`: band-limited, so everything above
    ``low_rate / 2`` is filtered out rather than folded back), ``nyquist_hz`` (= ``low_rate / 2``) and
    ``removed_share``: the share of the clip's energy above that frequency, which the lower rate cannot keep."""
    from audiotag.data.audio import resample

    if not 0 < low_rate <= sample_rate:
        raise ValueError(f"low_rate must be within (0, {sample_rate}] Hz, got {low_rate}")
    freqs, density = average_spectrum(wave, sample_rate)
    total = float(density.sum())
    removed = float(density[freqs > low_rate / 2].sum()) / total if total > 0 else 0.0
    return {"low": resample(np.asarray(wave, dtype=np.float32), sample_rate, low_rate),
            "nyquist_hz": low_rate / 2, "removed_share": removed}


# ------------------------------------------------------------------------------------------ ex-data-noisy-class
def least_verified_class(summary: pd.DataFrame, wrong_share: float, train: pd.DataFrame | None = None,
                         mislabeled: Mapping[str, str] | None = None) -> dict:
    """The class with the lowest share of manually verified training labels, and its likely wrong labels.

    ``summary``: :meth:`audiotag.data.datasets.TaggingDataset.summary` (columns ``train`` and ``verified``);
    ``wrong_share``: the share of *unverified* labels thought to be wrong. The estimate is ``unverified *
    wrong_share`` (verified labels are right). With ``train`` (the dataset's training table) and ``mislabeled``
    (``synth_info.json``'s ``fname -> true class``), ``actual_wrong`` counts the class's labels that really are
    wrong; without them it is ``None`` (on FSDKaggle2018 nobody knows). Ties go to the class listed first."""
    share = summary["verified"] / summary["train"].clip(lower=1)
    label = str(share.idxmin())
    clips, verified = int(summary.loc[label, "train"]), int(summary.loc[label, "verified"])
    result = {"label": label, "clips": clips, "verified": verified, "verified_share": float(share[label]),
              "unverified": clips - verified, "expected_wrong": (clips - verified) * float(wrong_share),
              "actual_wrong": None}
    if train is not None and mislabeled is not None:
        rows = train[train["label"] == label]
        result["actual_wrong"] = int(rows["fname"].isin(set(mislabeled)).sum())
    return result


# ----------------------------------------------------------------------------------------- ex-data-leaderboard
def score_standard_error(p, n):
    """The standard error of a score that is a mean over ``n`` clips of per-clip values in [0, 1] with mean ``p``:
    at most ``sqrt(p * (1 - p) / n)``, reached when every clip scores 0 or 1 (accuracy). MAP@3's per-clip values
    (1, 1/2, 1/3, 0) vary a little less, so for MAP@3 this is a slight overestimate. Works on arrays too."""
    p, n = np.asarray(p, dtype=float), np.asarray(n, dtype=float)
    if np.any((p < 0) | (p > 1)) or np.any(n <= 0):
        raise ValueError("need 0 <= p <= 1 and n > 0 clips")
    se = np.sqrt(p * (1 - p) / n)
    return float(se) if se.ndim == 0 else se


def clips_for_standard_error(p: float, se: float) -> int:
    """How many clips a test set needs so that a score near ``p`` has a standard error of at most ``se``:
    ``n = p (1 - p) / se^2``, rounded up."""
    if not 0 <= p <= 1 or se <= 0:
        raise ValueError("need 0 <= p <= 1 and se > 0")
    return max(1, math.ceil(p * (1 - p) / se ** 2 - 1e-9))


# --------------------------------------------------------------------------------------------- ex-data-longest
def longest_share(durations: Sequence[float], k: int = 10) -> dict:
    """The share of the total audio held by the ``k`` longest clips: ``share`` (0 to 1), their ``seconds``, the
    ``total_seconds`` of all clips and the share of the clips they are (``clip_share``, = k / number of clips)."""
    d = np.sort(np.asarray(durations, dtype=float))[::-1]
    if d.size == 0 or np.any(d < 0):
        raise ValueError("need at least one non-negative duration")
    k = int(min(max(k, 0), d.size))
    top, total = float(d[:k].sum()), float(d.sum())
    return {"share": top / total if total > 0 else 0.0, "seconds": top, "total_seconds": total,
            "clip_share": k / d.size}
