"""Audio I/O: read any common file as float32 mono at the working rate, crop, and normalise.

FSDKaggle2018 clips are 44.1 kHz 16-bit mono WAV, but a user's own audio can be anything soundfile reads
(WAV, FLAC, OGG/Vorbis, AIFF, ...), in any PCM or float subtype, channel count and sample rate. Every clip is
mixed down to mono, resampled to the working rate (:func:`resample`, a Kaiser-windowed sinc filter that the book's
page computes identically in JavaScript) and returned as ``float32``.

Bad input raises :class:`AudioError`, whose message names the file and the cause. Silent clips are valid.
"""
from __future__ import annotations

import math
import os
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from audiotag.data.labels import SAMPLE_RATE

#: Policies for clips shorter than the requested crop.
SHORT_CLIP_POLICIES = ("repeat", "pad")


class AudioError(ValueError):
    """A file that cannot be used as audio. ``path`` and ``reason`` are kept as attributes."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


def audio_info(path: str | os.PathLike) -> sf._SoundFileInfo:
    """Header information (rate, channels, frames, subtype) without reading the samples."""
    try:
        return sf.info(str(path))
    except FileNotFoundError:
        raise AudioError(path, "file not found") from None
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError for unreadable files
        raise AudioError(path, f"unreadable audio ({_reason(exc)})") from None


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read ``path`` as a 1-D float32 array at ``sample_rate`` Hz (mono mix-down, resampled if needed).

    Raises :class:`AudioError` for a missing or unreadable file, a zero-length clip, or NaN/inf samples.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(path, "file not found")
    if path.is_file() and path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(path, f"unreadable audio ({_reason(exc)})") from None
    if data.shape[0] == 0:
        raise AudioError(path, "zero-length audio (no samples)")
    if not np.isfinite(data).all():
        raise AudioError(path, "audio contains NaN or infinite samples")
    wave = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if rate != sample_rate:
        wave = resample(wave, rate, sample_rate)
    return np.ascontiguousarray(wave, dtype=np.float32)


#: The resampling filter (:func:`resampling_filter`): the pass band ends at 91.3 % of the lower rate's Nyquist
#: frequency and the stop band starts at 100 %, with 100 dB of attenuation (below 16-bit quantisation noise, 96 dB).
#: The band edges are soxr's "high quality" preset, which the package used before: one filter, written out here in a
#: few lines, so that the book's page (``AudiotagDSP.resample`` in ``static/explorers/dsp.js``) computes the very
#: same samples and the networks in the browser hear what ``audiotag predict`` hears.
RESAMPLE_PASSBAND = 0.913
RESAMPLE_STOPBAND = 1.0
RESAMPLE_ATTENUATION_DB = 100.0


def resampling_factors(orig_rate: int, target_rate: int) -> tuple[int, int]:
    """``(up, down)``: the rate ratio ``target / orig`` in lowest terms (44.1 kHz to 16 kHz: 160 / 441)."""
    if orig_rate < 1 or target_rate < 1 or int(orig_rate) != orig_rate or int(target_rate) != target_rate:
        raise ValueError(f"sample rates must be positive integers, got {orig_rate} and {target_rate}")
    g = math.gcd(int(orig_rate), int(target_rate))
    return int(target_rate) // g, int(orig_rate) // g


@lru_cache(maxsize=16)
def resampling_filter(up: int, down: int, passband: float = RESAMPLE_PASSBAND, stopband: float = RESAMPLE_STOPBAND,
                      attenuation_db: float = RESAMPLE_ATTENUATION_DB) -> np.ndarray:
    """The low-pass FIR filter of a resampling by ``up / down``, designed with Kaiser's window method.

    With ``m = max(up, down)``, the band edges sit at ``passband / m`` and ``stopband / m`` of the Nyquist frequency
    of the upsampled signal (the lower of the two rates' Nyquist frequencies); the transition width
    ``w = (stopband - passband) pi / m`` (radians per sample) and the attenuation ``A`` give Kaiser's length
    ``N = ceil((A - 7.95) / (2.285 w))`` (made odd) and shape ``beta = 0.1102 (A - 8.7)``. Tap ``k`` (centre
    ``c = (N - 1) / 2``) is ``f sinc(f (k - c)) I0(beta sqrt(1 - ((k - c) / c)^2)) / I0(beta)`` with cut-off
    ``f = (passband + stopband) / (2 m)``, and the taps are scaled to sum to 1 (unit gain at 0 Hz). Read-only.
    """
    m = max(up, down)
    width = (stopband - passband) * math.pi / m
    n_taps = int(math.ceil((attenuation_db - 7.95) / (2.285 * width))) | 1
    beta = 0.1102 * (attenuation_db - 8.7)
    cutoff = (passband + stopband) / (2 * m)
    k = np.arange(n_taps, dtype=np.float64) - (n_taps - 1) / 2
    taps = cutoff * np.sinc(cutoff * k) * np.kaiser(n_taps, beta)
    taps /= taps.sum()
    taps.flags.writeable = False
    return taps


def resample(wave: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited resampling: zero-stuff by ``up``, filter with :func:`resampling_filter`, keep every ``down``-th
    sample (``scipy.signal.resample_poly`` with our filter; ``ceil(len * up / down)`` samples, no delay):

    ``y[j] = up * sum_i x[i] h[j down + (N - 1) / 2 - i up]``

    The page's ``AudiotagDSP.resample`` computes the same sum (``tests/test_tagger_browser.py`` compares them).
    """
    wave = np.asarray(wave)
    if orig_rate == target_rate:
        return wave.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    up, down = resampling_factors(orig_rate, target_rate)
    out = resample_poly(wave.astype(np.float64, copy=False), up, down, window=np.array(resampling_filter(up, down)))
    return out.astype(np.float32)


def write_audio(path: str | os.PathLike, wave: np.ndarray, sample_rate: int = SAMPLE_RATE,
                subtype: str | None = "PCM_16") -> None:
    """Write ``wave`` (mono, or frames x channels) atomically; the format follows the file extension."""
    from audiotag.fileio import atomic_path

    path = Path(path)
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".aiff": "AIFF", ".aif": "AIFF"}.get(path.suffix.lower())
    if fmt is None:
        raise AudioError(path, f"unsupported output format {path.suffix!r}")
    if fmt == "OGG":
        subtype = "VORBIS"
    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.asarray(wave), sample_rate, subtype=subtype, format=fmt)


def normalize(wave: np.ndarray, mode: str = "peak", target: float = 1.0, eps: float = 1e-8) -> np.ndarray:
    """Scale a waveform: ``peak`` to max |x| = target, ``rms`` to RMS = target, ``none`` unchanged.

    The paper feeds the 1D-ConvNet "raw waveforms with normalization"; peak normalisation is our default.
    A silent clip stays silent (no division by zero).
    """
    wave = np.asarray(wave, dtype=np.float32)
    if mode == "none":
        return wave
    if mode == "peak":
        scale = float(np.max(np.abs(wave))) if wave.size else 0.0
    elif mode == "rms":
        scale = float(np.sqrt(np.mean(np.square(wave, dtype=np.float64)))) if wave.size else 0.0
    else:
        raise ValueError(f"unknown normalisation {mode!r}; use 'peak', 'rms' or 'none'")
    if scale < eps:
        return wave
    return (wave * (target / scale)).astype(np.float32)


def fit_length(wave: np.ndarray, n_samples: int, policy: str = "repeat") -> np.ndarray:
    """Make a clip at least ``n_samples`` long: ``repeat`` tiles it, ``pad`` appends zeros.

    Repeating is the default because FSDKaggle2018 clips start at 0.3 s: zero padding a 0.3 s clip to 3 s would
    leave 90% silence, and a tiled clip keeps the sound's texture over the whole crop.
    """
    if policy not in SHORT_CLIP_POLICIES:
        raise ValueError(f"unknown short-clip policy {policy!r}; use one of {SHORT_CLIP_POLICIES}")
    n = len(wave)
    if n >= n_samples:
        return wave
    if n == 0:
        return np.zeros(n_samples, dtype=np.float32)
    if policy == "repeat":
        reps = -(-n_samples // n)
        return np.tile(wave, reps)[:n_samples]
    return np.pad(wave, (0, n_samples - n))


def random_crop(wave: np.ndarray, n_samples: int, rng: np.random.Generator, policy: str = "repeat") -> np.ndarray:
    """A ``n_samples`` window at a uniformly random offset (the paper's "randomly extracted" crops)."""
    wave = fit_length(wave, n_samples, policy)
    offset = int(rng.integers(0, len(wave) - n_samples + 1))
    return wave[offset:offset + n_samples]


def center_crop(wave: np.ndarray, n_samples: int, policy: str = "repeat") -> np.ndarray:
    """The deterministic evaluation crop: the middle ``n_samples`` of the clip."""
    wave = fit_length(wave, n_samples, policy)
    offset = (len(wave) - n_samples) // 2
    return wave[offset:offset + n_samples]


def window_crops(wave: np.ndarray, n_samples: int, n_crops: int | None = None, policy: str = "repeat") -> np.ndarray:
    """Evenly spaced ``n_samples`` windows covering the whole clip, as an array (n_crops, n_samples).

    With ``n_crops=None`` the count is chosen so windows overlap by at least half (the hop between starts is at
    most half a window): ``ceil(2 * len / n) - 1``
    (at least 1). Used for test-time augmentation and for scoring long clips.
    """
    wave = fit_length(wave, n_samples, policy)
    n = len(wave)
    if n_crops is None:
        n_crops = max(1, -(-2 * n // n_samples) - 1)
    starts = np.linspace(0, n - n_samples, n_crops).round().astype(int)
    return np.stack([wave[s:s + n_samples] for s in starts])


def _reason(exc: Exception) -> str:
    """The cause in one short line. soundfile repeats the path (``Error opening '/x/a.wav': Format not
    recognised.``); the :class:`AudioError` already names the file, so only the cause is kept."""
    text = str(exc).strip() or type(exc).__name__
    text = re.sub(r"^Error opening '.*?':\s*", "", text.splitlines()[0])
    return text[:200]
