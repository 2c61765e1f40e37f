"""From waveform to network input: the paper's features (section 2.1), batched in torch.

One code path serves the CPU and the GPU: every feature is a few tensor operations (``torch.stft``, a matrix product
with a mel filterbank or a DCT matrix, a logarithm), so a batch of crops becomes a batch of features on whatever
device the batch lives on. The constants (analysis window, mel filterbank, DCT matrix) are built once with librosa
and held as buffers of :class:`FeatureExtractor`, so they move with ``.to(device)``.

By default every feature is numerically the one librosa computes (``tests/test_features.py`` checks it), with
librosa's conventions spelled out here:

* **frames**: centred (frame ``t`` is centred on sample ``t * hop``) with zero padding, librosa's ``pad_mode``
  default since 0.10; a crop of ``N`` samples gives ``1 + N // hop`` frames (:func:`n_frames`).
* **window**: ``scipy.signal.get_window(name, win_length)`` (periodic); for ``hamming`` that is exactly
  ``torch.hamming_window(win_length, periodic=True)``. A window shorter than ``n_fft`` sits in the middle of the
  FFT frame.
* **power**: ``|STFT|^2``; **mel**: ``librosa.filters.mel`` (Slaney mel scale and area normalisation).
* **dB**: ``librosa.power_to_db`` with ``ref=1``: ``10 log10(max(amin, S))``, then floored ``top_db`` below the
  spectrogram's own peak. The log spectrogram is ``power_to_db(|STFT|^2)``, which is identical to
  ``librosa.amplitude_to_db(|STFT|)`` (amin 1e-5 on magnitudes is 1e-10 on powers).
* **MFCC**: ``librosa.feature.mfcc``: the orthonormal DCT-II of the dB log-mel spectrogram, first ``n_mfcc`` rows.

TensorFlow's conventions, which the DCASE 2018 baseline uses (``tf.contrib.signal``, also ``tf.signal``), are
available through four :class:`~audiotag.features.config.FeatureConfig` switches:

* ``center=False`` (``tf.signal.stft``): frame ``t`` is samples ``[t * hop, t * hop + win_length)``, windowed,
  zero-padded *at its end* to ``n_fft`` (that only changes the phase, not ``|STFT|``, compared with padding on both
  sides); no padding of the signal, so ``N`` samples give ``1 + (N - win_length) // hop`` frames and the last
  partial frame is dropped (``pad_end=False``). :func:`frames_for` knows both rules.
* ``magnitude=True``: the mel filterbank weights ``|STFT|`` instead of ``|STFT|^2``.
* ``mel_scale="htk_tf"``: ``tf.signal.linear_to_mel_weight_matrix`` (:func:`htk_tf_mel_matrix`): HTK's
  ``mel(f) = 1127 ln(1 + f / 700)``, band edges equally spaced in mel from ``fmin`` to ``fmax``, triangles that are
  linear *in mel* (librosa's ``htk=True`` draws them linear in Hz) evaluated at the FFT bin frequencies
  ``k * sr / n_fft``, peak 1 and no area normalisation, the DC bin always weighted 0.
* ``log="log_offset"``: the natural ``ln(S + log_offset)`` (``tf.log(mel + 0.001)``), no floor.

TensorFlow's "periodic" Hann window is scipy's periodic Hann for even lengths (the baseline's 1102), so
``window="hann"`` serves both.

The paper's four 2D features at 44.1 kHz, window 2048 (Hamming), hop 512:

==============  ===========================================  ===============
kind            what                                          shape (C, F, T)
==============  ===========================================  ===============
``spectrogram`` dB power spectrogram, 513 bins (1024 window)  (1, 513, T)
``logmel``      dB mel spectrogram, 128 mels                  (1, 128, T)
``mfcc``        40 MFCCs                                      (1, 40, T)
``multires``    log-mel at windows 2048, 8192, 16384          (3, 128, T)
==============  ===========================================  ===============

The paper's 513 spectrogram bins need a 1024-point FFT (2048 points give 1025), hence
``FeatureConfig.spectrogram_n_fft = 1024``. For the network the dB values are standardised per example (levels
around -50 dB are poor raw inputs) and resized to the paper's ``3 x 299 x 299`` image (rows: frequency, lowest
first; columns: time). 299 frames are ``samples_for_frames(299, 512) = 152,576`` samples, about 3.46 s.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from audiotag.features.config import FeatureConfig
from audiotag.data.labels import SAMPLE_RATE

#: Kinds whose output is a 2D (frequency x time) feature.
SPECTRAL_KINDS = ("spectrogram", "logmel", "mfcc", "multires")
#: Smallest standard deviation (dB) used when standardising: a constant feature (a silent clip) becomes all zeros.
STD_FLOOR = 1e-3
#: Scale below which a waveform counts as silent and is left unnormalised.
SILENCE_EPS = 1e-8
#: Upper bound on the bytes of one complex STFT batch; bigger batches are processed in chunks (multires at 16384).
STFT_CHUNK_BYTES = 256 * 2 ** 20
#: Power floor of power_to_db (librosa's default ``amin``): -100 dB.
AMIN = 1e-10


# ----------------------------------------------------------------------------------------------------------- frames
def n_frames(n_samples: int, hop_length: int, *, center: bool = True, win_length: int | None = None) -> int:
    """Frames of an STFT of ``n_samples`` samples.

    Centred (librosa): ``1 + n_samples // hop_length``. Not centred (TensorFlow, needs ``win_length``):
    ``1 + (n_samples - win_length) // hop_length``, and 0 when the clip is shorter than one window.
    """
    if center:
        return 1 + int(n_samples) // int(hop_length)
    if win_length is None:
        raise ValueError("n_frames(center=False) needs the window length (win_length)")
    if n_samples < win_length:
        return 0
    return 1 + (int(n_samples) - int(win_length)) // int(hop_length)


def samples_for_frames(n_frames: int, hop_length: int, *, center: bool = True, win_length: int | None = None) -> int:
    """The shortest crop that gives ``n_frames`` frames: ``(n_frames - 1) * hop_length`` (+ ``win_length`` when
    not centred).

    The inverse of :func:`n_frames`: 299 centred frames at hop 512 need 152,576 samples (3.46 s at 44.1 kHz); the
    DCASE baseline's 25-frame patch (window 1102, hop 441) needs 11,686 samples.
    """
    if n_frames < 1:
        raise ValueError(f"n_frames must be >= 1, got {n_frames}")
    if not center and win_length is None:
        raise ValueError("samples_for_frames(center=False) needs the window length (win_length)")
    return (int(n_frames) - 1) * int(hop_length) + (0 if center else int(win_length))


def analysis_window_length(cfg: FeatureConfig) -> int:
    """The window length (samples) of ``cfg``'s STFT: ``spectrogram_n_fft`` for the spectrogram kind, else
    ``win_length`` (``None``: ``n_fft``); for ``multires``, the longest of its windows."""
    if cfg.kind == "waveform":
        raise ValueError("the waveform kind has no STFT window")
    if cfg.kind == "multires":
        return max(cfg.multires_windows)
    if cfg.kind == "spectrogram" and cfg.spectrogram_n_fft is not None:
        return cfg.spectrogram_n_fft
    return cfg.win_length or cfg.n_fft


def frames_for(cfg: FeatureConfig, n_samples: int) -> int:
    """How many feature frames ``cfg`` makes of a crop of ``n_samples`` samples (centred or not, see
    :func:`n_frames`). This is the crop-to-frames rule the input pipeline needs: with ``center=False`` frame
    ``t`` depends only on samples ``[t * hop, t * hop + win)``, so frames cut from a whole clip's feature are
    exactly the feature of the corresponding samples."""
    return n_frames(n_samples, cfg.hop_length, center=cfg.center, win_length=analysis_window_length(cfg))


def samples_for(cfg: FeatureConfig, n_frames: int) -> int:
    """The shortest crop (samples) for which ``cfg`` gives ``n_frames`` frames (inverse of :func:`frames_for`)."""
    return samples_for_frames(n_frames, cfg.hop_length, center=cfg.center, win_length=analysis_window_length(cfg))


# -------------------------------------------------------------------------------------------------------- constants
@lru_cache(maxsize=32)
def _window_np(name: str, win_length: int) -> np.ndarray:
    import librosa

    return librosa.filters.get_window(name, win_length, fftbins=True).astype(np.float64)


@lru_cache(maxsize=32)
def _mel_np(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
                               dtype=np.float64)


#: HTK's mel scale as TensorFlow writes it: ``mel(f) = HTK_MEL_Q * ln(1 + f / HTK_MEL_BREAK_HZ)``.
HTK_MEL_BREAK_HZ = 700.0
HTK_MEL_Q = 1127.0


def hz_to_mel_htk(hz):
    """HTK mel of frequencies in Hz: ``1127 ln(1 + f / 700)`` (TensorFlow's ``_hertz_to_mel``; 1000 Hz ~ 1000 mel)."""
    return HTK_MEL_Q * np.log(1.0 + np.asarray(hz, dtype=np.float64) / HTK_MEL_BREAK_HZ)


@lru_cache(maxsize=32)
def htk_tf_mel_matrix(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None) -> np.ndarray:
    """TensorFlow's ``linear_to_mel_weight_matrix``, transposed to our ``(n_mels, 1 + n_fft // 2)`` layout, in numpy.

    The recipe (TensorFlow computes it in float64 too): bin ``k`` has frequency ``k * (sr / 2) / (n_bins - 1)``
    (``linspace(0, sr / 2, n_bins)``) and mel ``m_k`` (:func:`hz_to_mel_htk`); ``n_mels + 2`` band edges
    ``e_0 .. e_{n_mels+1}`` are equally spaced in mel from ``mel(fmin)`` to ``mel(fmax)`` (``None``: Nyquist); band
    ``j`` has weight ``max(0, min((m_k - e_j) / (e_{j+1} - e_j), (e_{j+2} - m_k) / (e_{j+2} - e_{j+1})))``: a
    triangle linear in mel, 1 at its centre ``e_{j+1}`` (no area normalisation). The DC bin (``k = 0``) is
    weighted 0 ("HTK excludes the spectrogram DC bin"). Cached; treat the result as read-only.
    """
    fmax = sample_rate / 2 if fmax is None else fmax
    if n_mels < 1 or n_fft < 2:
        raise ValueError(f"need n_mels >= 1 and n_fft >= 2, got {n_mels} and {n_fft}")
    if not 0 <= fmin < fmax <= sample_rate / 2:
        raise ValueError(f"TensorFlow's mel matrix needs 0 <= fmin < fmax <= sample_rate / 2 = {sample_rate / 2:g}, "
                         f"got fmin={fmin}, fmax={fmax}")
    n_bins = n_fft // 2 + 1
    bin_mel = hz_to_mel_htk(np.linspace(0.0, sample_rate / 2, n_bins)[1:])[:, None]     # (n_bins - 1, 1), no DC
    edges = np.linspace(hz_to_mel_htk(fmin), hz_to_mel_htk(fmax), n_mels + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]                              # (n_mels,) each
    rising = (bin_mel - lower) / (center - lower)
    falling = (upper - bin_mel) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights = np.concatenate([np.zeros((1, n_mels)), weights])                              # the DC bin: 0
    out = np.ascontiguousarray(weights.T)
    out.flags.writeable = False
    return out


@lru_cache(maxsize=32)
def _dct_np(n_mfcc: int, n_mels: int) -> np.ndarray:
    import scipy.fft

    # Column j of the DCT of the identity is the DCT of the j-th unit vector: D @ S == dct(S, axis=0).
    return scipy.fft.dct(np.eye(n_mels), type=2, norm="ortho", axis=0)[:n_mfcc]


def make_window(name: str = "hamming", win_length: int = 2048, dtype=torch.float32, device=None) -> Tensor:
    """The analysis window librosa uses for ``window=name`` (periodic, as for an FFT), as a tensor."""
    return torch.tensor(_window_np(name, int(win_length)), dtype=dtype, device=device)


def mel_filterbank(sample_rate: int = SAMPLE_RATE, n_fft: int = 2048, n_mels: int = 128, fmin: float = 0.0,
                   fmax: float | None = None, dtype=torch.float32, device=None, scale: str = "slaney") -> Tensor:
    """A (n_mels, 1 + n_fft // 2) mel filterbank tensor: row m weights the FFT bins of mel band m.

    ``scale="slaney"``: ``librosa.filters.mel``; ``"htk_tf"``: TensorFlow's matrix (:func:`htk_tf_mel_matrix`).
    """
    args = (int(sample_rate), int(n_fft), int(n_mels), float(fmin), None if fmax is None else float(fmax))
    if scale == "slaney":
        weights = _mel_np(*args)
    elif scale == "htk_tf":
        weights = htk_tf_mel_matrix(*args)
    else:
        raise ValueError(f"unknown mel scale {scale!r}; use 'slaney' or 'htk_tf'")
    return torch.tensor(weights, dtype=dtype, device=device)


def dct_matrix(n_mfcc: int = 40, n_mels: int = 128, dtype=torch.float32, device=None) -> Tensor:
    """The orthonormal DCT-II as a ``(n_mfcc, n_mels)`` matrix (``scipy.fft.dct(..., type=2, norm='ortho')``)."""
    if not 1 <= n_mfcc <= n_mels:
        raise ValueError(f"n_mfcc must be in [1, n_mels={n_mels}], got {n_mfcc}")
    return torch.tensor(_dct_np(int(n_mfcc), int(n_mels)), dtype=dtype, device=device)


def _as_window(window: Tensor | str, win_length: int | None, n_fft: int, like: Tensor) -> Tensor:
    if isinstance(window, str):  # built directly in the input's dtype: float64 input stays exact
        window = make_window(window, win_length or n_fft, dtype=like.dtype, device=like.device)
    if window.numel() > n_fft:
        raise ValueError(f"window of {window.numel()} samples is longer than n_fft={n_fft}")
    return window.to(dtype=like.dtype, device=like.device)


# ------------------------------------------------------------------------------------------------------- functional
def spectrogram(waves: Tensor, n_fft: int = 2048, hop_length: int = 512, window: Tensor | str = "hamming",
                win_length: int | None = None, *, center: bool = True, magnitude: bool = False) -> Tensor:
    """Power ``|STFT|^2`` (or, ``magnitude=True``, ``|STFT|``) of ``waves`` (..., N) -> (..., 1 + n_fft // 2, T).

    The window is a tensor, or a name for :func:`make_window` of ``win_length`` samples (default ``n_fft``).
    ``center=True``: librosa's ``stft``: centred frames with zero padding, the window zero-padded to ``n_fft`` in
    the middle; ``T = 1 + N // hop``. ``center=False``: TensorFlow's ``stft``: frames of the window's length taken
    from sample 0 on, windowed, zero-padded at their end to ``n_fft``; ``T = 1 + (N - win) // hop`` and a clip
    shorter than one window is an error.
    """
    shape = waves.shape
    window = _as_window(window, win_length, n_fft, waves)
    flat = waves.reshape(-1, shape[-1])
    if center:
        spec = torch.stft(flat, n_fft=n_fft, hop_length=hop_length, win_length=window.numel(), window=window,
                          center=True, pad_mode="constant", return_complex=True)
    else:
        if shape[-1] < window.numel():
            raise ValueError(f"a clip of {shape[-1]} samples is shorter than one window ({window.numel()} samples); "
                             "non-centred frames (center=False) need at least one whole window")
        frames = flat.unfold(-1, window.numel(), hop_length) * window          # (B, T, win)
        spec = torch.fft.rfft(frames, n=n_fft).transpose(-2, -1)                # (B, F, T)
    out = spec.abs() if magnitude else spec.real.square() + spec.imag.square()
    return out.reshape(*shape[:-1], *out.shape[-2:])


def stft_power(waves: Tensor, n_fft: int = 2048, hop_length: int = 512, window: Tensor | str = "hamming",
               win_length: int | None = None) -> Tensor:
    """Power spectrogram ``|STFT|^2`` of ``waves`` (..., N) -> (..., 1 + n_fft // 2, n_frames), librosa's
    conventions (centred frames; see :func:`spectrogram`)."""
    return spectrogram(waves, n_fft, hop_length, window, win_length)


def power_to_db(power: Tensor, amin: float = AMIN, top_db: float | None = 80.0) -> Tensor:
    """``librosa.power_to_db(S, ref=1.0, amin, top_db)`` for each spectrogram in a batch.

    ``10 * log10(max(amin, S))``, then values more than ``top_db`` below the peak are raised to ``peak - top_db``.
    The peak is taken over the last two axes (frequency, time): each clip, and each channel of a stacked
    multi-resolution feature, is floored relative to its own maximum, as librosa would for that one spectrogram.
    A silent clip gives ``10 log10(amin)`` everywhere (-100 dB), never ``-inf``.
    """
    db = 10.0 * torch.log10(power.clamp_min(amin))
    if top_db is not None:
        if top_db < 0:
            raise ValueError(f"top_db must be non-negative, got {top_db}")
        peak = db.amax(dim=(-2, -1), keepdim=True)
        db = torch.maximum(db, peak - top_db)
    return db


def log_offset(spec: Tensor, offset: float = 1e-3) -> Tensor:
    """The natural ``ln(S + offset)`` (the DCASE 2018 baseline's ``tf.log(mel + 0.001)``); silence gives
    ``ln(offset)``, never ``-inf``."""
    if not offset > 0:
        raise ValueError(f"the log offset must be positive, got {offset}")
    return torch.log(spec + offset)


def compress(spec: Tensor, cfg: FeatureConfig) -> Tensor:
    """``cfg``'s log compression of a (mel) spectrogram (..., F, T): dB of the power (a magnitude spectrogram is
    squared first) with ``cfg.amin`` and ``cfg.top_db``, or ``ln(S + cfg.log_offset)`` (``cfg.log``)."""
    if cfg.log == "log_offset":
        return log_offset(spec, cfg.log_offset)
    return power_to_db(spec.square() if cfg.magnitude else spec, cfg.amin, cfg.top_db)


def log_spectrogram(waves: Tensor, n_fft: int = 1024, hop_length: int = 512, window: Tensor | str = "hamming",
                    win_length: int | None = None, amin: float = AMIN, top_db: float | None = 80.0) -> Tensor:
    """The paper's "spectrogram" feature: dB power spectrogram, (..., 1 + n_fft // 2, T) (513 bins at n_fft 1024)."""
    return power_to_db(stft_power(waves, n_fft, hop_length, window, win_length), amin, top_db)


def mel_spectrogram(waves: Tensor, sample_rate: int = SAMPLE_RATE, n_fft: int = 2048, hop_length: int = 512,
                    window: Tensor | str = "hamming", win_length: int | None = None, n_mels: int = 128,
                    fmin: float = 0.0, fmax: float | None = None, mel_fb: Tensor | None = None) -> Tensor:
    """Mel power spectrogram (..., n_mels, T) = ``librosa.feature.melspectrogram`` (power 2).

    ``mel_fb`` (from :func:`mel_filterbank`) can be passed to skip building the filterbank; it then defines
    ``n_mels``, ``fmin`` and ``fmax``.
    """
    power = stft_power(waves, n_fft, hop_length, window, win_length)
    if mel_fb is None:
        mel_fb = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, dtype=power.dtype, device=power.device)
    return torch.matmul(mel_fb.to(dtype=power.dtype, device=power.device), power)


def log_mel(waves: Tensor, sample_rate: int = SAMPLE_RATE, n_fft: int = 2048, hop_length: int = 512,
            window: Tensor | str = "hamming", win_length: int | None = None, n_mels: int = 128, fmin: float = 0.0,
            fmax: float | None = None, mel_fb: Tensor | None = None, amin: float = AMIN,
            top_db: float | None = 80.0) -> Tensor:
    """The paper's log-mel feature: ``power_to_db(melspectrogram)``, (..., n_mels, T)."""
    mel = mel_spectrogram(waves, sample_rate, n_fft, hop_length, window, win_length, n_mels, fmin, fmax, mel_fb)
    return power_to_db(mel, amin, top_db)


def mfcc(waves: Tensor, sample_rate: int = SAMPLE_RATE, n_mfcc: int = 40, n_fft: int = 2048, hop_length: int = 512,
         window: Tensor | str = "hamming", win_length: int | None = None, n_mels: int = 128, fmin: float = 0.0,
         fmax: float | None = None, mel_fb: Tensor | None = None, dct: Tensor | None = None, amin: float = AMIN,
         top_db: float | None = 80.0) -> Tensor:
    """``librosa.feature.mfcc``: orthonormal DCT-II over the mel axis of the dB log-mel, first ``n_mfcc`` rows.

    Returns (..., n_mfcc, T). ``dct`` (from :func:`dct_matrix`) may be passed precomputed.
    """
    db = log_mel(waves, sample_rate, n_fft, hop_length, window, win_length, n_mels, fmin, fmax, mel_fb, amin, top_db)
    if dct is None:
        dct = dct_matrix(n_mfcc, db.shape[-2], dtype=db.dtype, device=db.device)
    return torch.matmul(dct.to(dtype=db.dtype, device=db.device), db)


def multires_logmel(waves: Tensor, sample_rate: int = SAMPLE_RATE, windows: Sequence[int] = (2048, 8192, 16384),
                    hop_length: int = 512, window: str = "hamming", n_mels: int = 128, fmin: float = 0.0,
                    fmax: float | None = None, amin: float = AMIN, top_db: float | None = 80.0) -> Tensor:
    """Multi-resolution log-mel (paper Fig. 1): a log-mel per window size stacked as channels (B, n_windows, n_mels, T).

    Each window size is also its FFT size; the hop is shared, so every resolution has the same frame count and the
    frames line up in time (all are centred on ``t * hop``). Short windows resolve onsets, long ones resolve pitch.
    """
    return torch.stack([log_mel(waves, sample_rate, w, hop_length, window, None, n_mels, fmin, fmax, None, amin,
                                top_db) for w in windows], dim=-3)


def standardize(features: Tensor, mode: str = "clip", floor: float = STD_FLOOR) -> Tensor:
    """Zero-mean, unit-variance features per example (B, C, F, T).

    ``clip``: one mean and standard deviation per example (over channels, frequency and time), which keeps the
    relative levels of bands and channels; ``bin``: per channel and frequency bin over time (cepstral mean-variance
    normalisation); ``none``: unchanged. The deviation is floored at ``floor`` so a constant (silent) example
    becomes all zeros rather than NaN.
    """
    if mode == "none":
        return features
    if mode == "clip":
        dims = tuple(range(1, features.dim()))
    elif mode == "bin":
        dims = (-1,)
    else:
        raise ValueError(f"unknown standardisation {mode!r}; use 'clip', 'bin' or 'none'")
    mean = features.mean(dim=dims, keepdim=True)
    std = features.std(dim=dims, keepdim=True, unbiased=False).clamp_min(floor)
    return (features - mean) / std


def resize_to_image(features: Tensor, size: int = 299, channels: int = 3) -> Tensor:
    """Bilinear resize of (B, C, F, T) features to (B, channels, size, size), the paper's 299 x 299 x 3 input.

    A 1-channel feature is repeated over the ``channels`` (the paper found 3 channels scored higher, even when they
    are copies); a feature that already has ``channels`` channels (multires) is resized as is. Rows stay frequency
    (lowest first) and columns time. Bilinear with ``align_corners=False`` and no anti-aliasing, like OpenCV's
    ``INTER_LINEAR``; a (B, F, T) or (F, T) input is treated as one channel.
    """
    if features.dim() == 2:
        return resize_to_image(features[None, None], size, channels)[0]
    if features.dim() == 3:
        features = features.unsqueeze(1)
    n_ch = features.shape[1]
    if n_ch not in (1, channels):
        raise ValueError(f"cannot make {channels} image channels from {n_ch} feature channels")
    image = F.interpolate(features, size=(size, size), mode="bilinear", align_corners=False)
    return image.expand(-1, channels, -1, -1).contiguous() if n_ch == 1 else image


def normalize_waves(waves: Tensor, mode: str = "peak", eps: float = SILENCE_EPS) -> Tensor:
    """Scale each waveform (..., N): ``peak`` to max |x| = 1, ``rms`` to RMS 1, ``none`` unchanged.

    The batched twin of :func:`audiotag.data.audio.normalize`; a silent waveform stays silent.
    """
    if mode == "none":
        return waves
    if mode == "peak":
        scale = waves.abs().amax(dim=-1, keepdim=True)
    elif mode == "rms":
        scale = waves.square().mean(dim=-1, keepdim=True).sqrt()
    else:
        raise ValueError(f"unknown normalisation {mode!r}; use 'peak', 'rms' or 'none'")
    return torch.where(scale < eps, waves, waves / scale.clamp_min(eps))


# ------------------------------------------------------------------------------------------------ silence trimming
def trim_silence(wave, top_db: float = 60.0, frame_length: int = 2048, hop_length: int = 512):
    """Cut leading and trailing silence: ``librosa.effects.trim`` for one clip. Returns ``(trimmed, (start, end))``.

    A frame is silent when its RMS (centred, zero-padded frames of ``frame_length``) is more than ``top_db`` dB below
    the loudest frame's. The clip is cut from the first non-silent frame's start (``frame * hop``) to one hop past the
    last one (at most the clip end). An all-silent clip has every frame at the reference level, so it is kept whole.
    Works on a 1-D numpy array or tensor and returns the same type.
    """
    is_numpy = not isinstance(wave, Tensor)
    x = torch.as_tensor(np.asarray(wave)) if is_numpy else wave
    if x.dim() != 1:
        raise ValueError(f"trim_silence expects one mono clip (1-D), got shape {tuple(x.shape)}")
    if x.numel() == 0:
        return wave, (0, 0)
    half = frame_length // 2
    frames = F.pad(x[None, None], (half, half)).reshape(-1).unfold(0, frame_length, hop_length)
    rms = frames.square().mean(dim=-1).sqrt()
    amin = 1e-5  # librosa.amplitude_to_db's floor on amplitudes
    db = 20.0 * torch.log10(rms.clamp_min(amin)) - 20.0 * torch.log10(rms.max().clamp_min(amin))
    loud = torch.nonzero(db > -top_db).flatten()
    if loud.numel() == 0:
        start = end = 0
    else:
        start = int(loud[0]) * hop_length
        end = min(x.numel(), (int(loud[-1]) + 1) * hop_length)
    return wave[start:end], (start, end)


def prepare_clip(wave: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Waveform-level preprocessing of a whole clip, before cropping: silence trimming when ``cfg.trim_silence``.

    (Per-crop normalisation happens in :class:`FeatureExtractor`, after cropping.)
    """
    if not cfg.trim_silence:
        return wave
    trimmed, _ = trim_silence(wave, cfg.trim_top_db, cfg.win_length or cfg.n_fft, cfg.hop_length)
    return trimmed if len(trimmed) else wave


# ---------------------------------------------------------------------------------------------------------- module
class FeatureExtractor(torch.nn.Module):
    """The configured feature as a module: ``(B, N)`` waveforms in, network input out.

    Steps: per-crop normalisation (``cfg.normalize``); for ``waveform`` the result is returned as (B, 1, N). For the
    2D kinds: log feature (B, C, F, T) (:meth:`spectral`) -> ``cfg.standardize`` -> resize to (B, 3, S, S) when
    ``cfg.image_size`` is set.
    Window, mel filterbanks and DCT matrix are non-persistent buffers (derived from the config, so not saved in a
    state dict) and move with ``.to(device)``. Computation follows the input's dtype (float32 or float64).
    """

    def __init__(self, cfg: FeatureConfig):
        super().__init__()
        self.cfg = cfg
        self.n_fft, win_length = cfg.n_fft, cfg.win_length or cfg.n_fft
        if cfg.kind == "spectrogram" and cfg.spectrogram_n_fft is not None:
            self.n_fft = win_length = cfg.spectrogram_n_fft
        if cfg.kind in ("spectrogram", "logmel", "mfcc"):
            self.register_buffer("window", make_window(cfg.window, win_length), persistent=False)
        if cfg.kind in ("logmel", "mfcc"):
            self.register_buffer("mel_fb", mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax,
                                                          scale=cfg.mel_scale), persistent=False)
        if cfg.kind == "mfcc":
            self.register_buffer("dct", dct_matrix(cfg.n_mfcc, cfg.n_mels), persistent=False)
        if cfg.kind == "multires":
            for i, w in enumerate(cfg.multires_windows):
                self.register_buffer(f"window_{i}", make_window(cfg.window, w), persistent=False)
                self.register_buffer(f"mel_fb_{i}", mel_filterbank(cfg.sample_rate, w, cfg.n_mels, cfg.fmin,
                                                                   cfg.fmax, scale=cfg.mel_scale), persistent=False)

    def extra_repr(self) -> str:
        return f"kind={self.cfg.kind!r}, image_size={self.cfg.image_size}"

    # -- shapes
    def feature_shape(self, n_samples: int) -> tuple[int, ...]:
        """Native shape (C, F, T) of one example's 2D feature before resizing ((1, N) for waveforms)."""
        cfg = self.cfg
        if cfg.kind == "waveform":
            return (1, int(n_samples))
        t = frames_for(cfg, n_samples)
        return {"spectrogram": (1, self.n_fft // 2 + 1, t), "logmel": (1, cfg.n_mels, t), "mfcc": (1, cfg.n_mfcc, t),
                "multires": (len(cfg.multires_windows), cfg.n_mels, t)}[cfg.kind]

    def output_shape(self, n_samples: int) -> tuple[int, ...]:
        """Shape of one example's output for a crop of ``n_samples`` (no batch axis), without computing it."""
        if self.cfg.kind != "waveform" and self.cfg.image_size is not None:
            return (3, self.cfg.image_size, self.cfg.image_size)
        return self.feature_shape(n_samples)

    # -- computation
    def spectral(self, waves: Tensor) -> Tensor:
        """The log feature (B, C, F, T) of normalised waveforms (B, N), before standardisation and resizing.

        STFT (:func:`spectrogram`: ``cfg.center``, ``cfg.magnitude``) -> mel filterbank (``cfg.mel_scale``; not for
        the spectrogram kind) -> log (:func:`compress`: ``cfg.log``) -> DCT (mfcc only).
        """
        cfg = self.cfg
        if cfg.kind == "multires":
            channels = [self._log_mel(waves, w, getattr(self, f"window_{i}"), getattr(self, f"mel_fb_{i}"))
                        for i, w in enumerate(cfg.multires_windows)]
            return torch.stack(channels, dim=1)
        if cfg.kind == "spectrogram":
            return compress(self._spectrogram(waves, self.n_fft, self.window), cfg).unsqueeze(1)
        feats = self._log_mel(waves, cfg.n_fft, self.window, self.mel_fb)
        if cfg.kind == "mfcc":
            feats = torch.matmul(self.dct.to(feats.dtype), feats)
        return feats.unsqueeze(1)

    def _spectrogram(self, waves: Tensor, n_fft: int, window: Tensor) -> Tensor:
        return spectrogram(waves, n_fft, self.cfg.hop_length, window, center=self.cfg.center,
                           magnitude=self.cfg.magnitude)

    def _log_mel(self, waves: Tensor, n_fft: int, window: Tensor, mel_fb: Tensor) -> Tensor:
        spec = self._spectrogram(waves, n_fft, window)
        return compress(torch.matmul(mel_fb.to(spec.dtype), spec), self.cfg)

    def forward(self, waves: Tensor) -> Tensor:
        """(B, N) or (B, 1, N) float waveforms -> (B, 1, N) for ``waveform``, else (B, C, F, T) or (B, 3, S, S)."""
        if waves.dim() == 3 and waves.shape[1] == 1:
            waves = waves[:, 0]
        if waves.dim() != 2:
            raise ValueError(f"FeatureExtractor expects waveforms of shape (batch, samples), got {tuple(waves.shape)}")
        if not waves.is_floating_point():
            raise TypeError(f"waveforms must be floating point (scaled to [-1, 1]), got {waves.dtype}")
        cfg = self.cfg
        waves = normalize_waves(waves, cfg.normalize)
        if cfg.kind == "waveform":
            return waves.unsqueeze(1)
        parts = [self._spectral_to_input(chunk) for chunk in waves.split(self._chunk_size(waves), dim=0)]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)

    def _spectral_to_input(self, waves: Tensor) -> Tensor:
        feats = standardize(self.spectral(waves), self.cfg.standardize)
        if self.cfg.image_size is not None:
            feats = resize_to_image(feats, self.cfg.image_size)
        return feats

    def _chunk_size(self, waves: Tensor) -> int:
        biggest_fft = max(self.cfg.multires_windows) if self.cfg.kind == "multires" else self.n_fft
        frames = max(1, frames_for(self.cfg, waves.shape[-1]))
        per_clip = (biggest_fft // 2 + 1) * frames * 2 * waves.element_size()
        return max(1, STFT_CHUNK_BYTES // per_clip)


def compute_features(waves, cfg: FeatureConfig, device: str | torch.device | None = None,
                     batch_size: int = 16) -> Tensor:
    """Features of one waveform (N,) or a batch (B, N) (numpy, tensor, or a list of equal-length clips).

    Runs :class:`FeatureExtractor` on ``device`` (default: CPU) in batches of ``batch_size`` without gradients and
    returns a CPU tensor: (B, ...) for a batch, one example's (C, ...) for a single waveform. Float64 input is
    computed in float64, anything else in float32.
    """
    if isinstance(waves, (list, tuple)):
        waves = np.stack([np.asarray(w) for w in waves])
    x = waves if isinstance(waves, Tensor) else torch.as_tensor(np.asarray(waves))
    if not x.is_floating_point():
        raise TypeError(f"waveforms must be floating point (scaled to [-1, 1]), got {x.dtype}")
    if x.dtype != torch.float64:
        x = x.float()
    single = x.dim() == 1
    if single:
        x = x[None]
    extractor = FeatureExtractor(cfg).to(device or "cpu")
    with torch.inference_mode():
        out = torch.cat([extractor(chunk.to(device or "cpu")).cpu() for chunk in x.split(batch_size, dim=0)])
    return out[0] if single else out
