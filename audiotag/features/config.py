"""Feature settings: everything that shapes a network's input, in one frozen dataclass.

A checkpoint stores its :class:`FeatureConfig`, so inference rebuilds exactly the preprocessing the model was
trained with (chapter 2, *Features and augmentation*).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from audiotag.data.labels import SAMPLE_RATE

#: Feature kinds: the 1D net's input and the paper's four 2D features.
FEATURE_KINDS = ("waveform", "logmel", "mfcc", "multires", "spectrogram")
#: Per-example standardisation of dB features (see :class:`FeatureConfig`).
STANDARDIZE_MODES = ("clip", "bin", "none")
#: Mel filterbanks: librosa's default (Slaney) and TensorFlow's ``linear_to_mel_weight_matrix`` (HTK formula).
MEL_SCALES = ("slaney", "htk_tf")
#: Log compressions: decibels (``power_to_db``) or the natural ``ln(S + log_offset)``.
LOG_MODES = ("db", "log_offset")


@dataclass(frozen=True)
class FeatureConfig:
    """How a waveform becomes a model input (paper section 2.1).

    ``kind``: ``waveform`` (1D-ConvNet), ``logmel`` (128 mels), ``mfcc`` (40), ``multires`` (log-mel at windows
    2048/8192/16384 stacked as 3 channels) or ``spectrogram`` (513 log-magnitude bins).
    Frames use a ``window`` (Hamming) of ``win_length`` samples (``None``: ``n_fft``), hop ``hop_length``, and an
    ``n_fft``-point FFT. The multi-resolution kind ignores ``n_fft`` and ``win_length``: each of its
    ``multires_windows`` is both window and FFT size.
    ``center``: ``True`` (librosa): frame ``t`` is centred on sample ``t * hop_length`` (zero padding at both ends,
    the window in the middle of the FFT frame), so ``N`` samples give ``1 + N // hop_length`` frames. ``False``
    (TensorFlow's ``tf.signal.stft``, the DCASE 2018 baseline): frame ``t`` covers samples
    ``[t * hop_length, t * hop_length + win_length)``, no padding, the windowed frame zero-padded at its end to
    ``n_fft``; ``N`` samples give ``1 + (N - win_length) // hop_length`` frames (none if ``N < win_length``).
    Not available for ``multires``, whose windows of different lengths would give different frame counts.
    ``spectrogram_n_fft``: window and FFT size of the ``spectrogram`` kind. The paper gives it 513 bins, which a
    2048-point FFT cannot have (it has 1025), so we read it as a 1024-sample window (full band, 513 bins);
    ``None`` uses ``n_fft``/``win_length`` like the other kinds (1025 bins at 2048).
    ``magnitude``: ``False`` uses the power spectrogram ``|STFT|^2`` (librosa's ``melspectrogram`` default);
    ``True`` the magnitude ``|STFT|`` (the DCASE 2018 baseline's mel spectrogram).
    ``mel_scale``: the mel filterbank of ``n_mels`` bands between ``fmin`` and ``fmax`` (``None``: Nyquist).
    ``slaney``: ``librosa.filters.mel`` (Slaney's mel scale, triangles linear in Hz, area-normalised).
    ``htk_tf``: TensorFlow's ``linear_to_mel_weight_matrix`` (HTK mel ``1127 ln(1 + f / 700)``, triangles linear in
    mel with peak 1, no area normalisation, the DC bin zeroed; needs ``0 <= fmin < fmax <= sample_rate / 2``).
    ``log``: how the (mel) spectrogram is compressed. ``db``: as ``librosa.power_to_db``,
    ``10 log10(max(amin, S))`` (ref 1.0) of the power (a ``magnitude`` spectrogram is squared first, which is
    ``librosa.amplitude_to_db`` with ``amin ** 0.5``), floored ``top_db`` below each spectrogram's own peak
    (``None``: no floor). ``log_offset``: the natural logarithm ``ln(S + log_offset)`` (``log_offset > 0``; the
    baseline's 0.001), no floor; ``amin`` and ``top_db`` are then unused.
    ``standardize``: ``clip`` subtracts each example's mean and divides by its standard deviation, ``bin`` does so
    per frequency bin / coefficient over time (cepstral mean-variance normalisation), ``none`` keeps raw values.
    ``image_size``: 2D features are resized (bilinear) to ``3 x image_size x image_size`` (the paper: 299),
    1-channel features repeated over 3 channels; ``None`` keeps the native ``C x F x T`` shape.
    ``normalize``: per-crop waveform scaling (``peak``, ``rms``, ``none``) applied before any feature.
    ``trim_silence``: cut leading/trailing frames quieter than ``trim_top_db`` below the loudest frame, before cropping.
    """

    kind: str = "logmel"
    sample_rate: int = SAMPLE_RATE
    n_fft: int = 2048
    win_length: int | None = None
    hop_length: int = 512
    window: str = "hamming"
    n_mels: int = 128
    n_mfcc: int = 40
    multires_windows: tuple[int, ...] = (2048, 8192, 16384)
    spectrogram_n_fft: int | None = 1024
    fmin: float = 0.0
    fmax: float | None = None
    top_db: float | None = 80.0
    image_size: int | None = 299
    trim_silence: bool = False
    trim_top_db: float = 60.0
    normalize: str = "peak"
    amin: float = 1e-10
    standardize: str = "clip"
    center: bool = True
    magnitude: bool = False
    mel_scale: str = "slaney"
    log: str = "db"
    log_offset: float = 0.001

    def __post_init__(self):
        if self.kind not in FEATURE_KINDS:
            raise ValueError(f"unknown feature kind {self.kind!r}; choose one of {FEATURE_KINDS}")
        if self.normalize not in ("peak", "rms", "none"):
            raise ValueError(f"unknown normalisation {self.normalize!r}; use 'peak', 'rms' or 'none'")
        if self.standardize not in STANDARDIZE_MODES:
            raise ValueError(f"unknown standardisation {self.standardize!r}; choose one of {STANDARDIZE_MODES}")
        if self.hop_length < 1 or self.n_fft < 2:
            raise ValueError(f"need hop_length >= 1 and n_fft >= 2, got {self.hop_length} and {self.n_fft}")
        if self.win_length is not None and not 1 <= self.win_length <= self.n_fft:
            raise ValueError(f"win_length must be in [1, n_fft={self.n_fft}], got {self.win_length}")
        if self.image_size is not None and self.image_size < 1:
            raise ValueError(f"image_size must be positive or None, got {self.image_size}")
        if not self.multires_windows or min(self.multires_windows) < 2:
            raise ValueError(f"multires_windows must be FFT sizes >= 2, got {self.multires_windows}")
        if self.spectrogram_n_fft is not None and self.spectrogram_n_fft < 2:
            raise ValueError(f"spectrogram_n_fft must be >= 2 or None, got {self.spectrogram_n_fft}")
        if self.amin <= 0:
            raise ValueError(f"amin must be positive, got {self.amin}")
        if self.mel_scale not in MEL_SCALES:
            raise ValueError(f"unknown mel_scale {self.mel_scale!r}; choose one of {MEL_SCALES}")
        if self.log not in LOG_MODES:
            raise ValueError(f"unknown log {self.log!r}; choose one of {LOG_MODES}")
        if not self.log_offset > 0:
            raise ValueError(f"log_offset must be positive (ln(S + log_offset) of silence must be finite), "
                             f"got {self.log_offset}")
        if not self.center and self.kind == "multires":
            raise ValueError("center=False is not available for kind='multires': its windows "
                             f"{self.multires_windows} would give different frame counts; use center=True")
        if self.mel_scale == "htk_tf":
            fmax = self.sample_rate / 2 if self.fmax is None else self.fmax
            if not 0 <= self.fmin < fmax <= self.sample_rate / 2:
                raise ValueError(f"mel_scale='htk_tf' needs 0 <= fmin < fmax <= sample_rate / 2 = "
                                 f"{self.sample_rate / 2:g}, got fmin={self.fmin}, fmax={self.fmax}")

    def replace(self, **changes) -> "FeatureConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FeatureConfig":
        d = dict(d)
        if "multires_windows" in d:
            d["multires_windows"] = tuple(d["multires_windows"])
        return cls(**d)
