"""The torch features against librosa, on signals with real structure (tone with vibrato, noise burst, chirp).

Tolerances (dB features span 80 dB after the top_db floor):
* float64 input: max |ours - librosa| < 1e-3 dB (module path; its window/filterbank buffers are float32) and
  < 1e-6 dB for the functional path with constants built in float64; MFCC < 1e-3 absolute (values up to ~400).
* float32 input vs librosa on the same float32 samples: < 0.02 dB (float32 FFT rounding near the -80 dB floor),
  MFCC < 5e-3.
"""
import json
import math

import librosa
import numpy as np
import pytest
import torch

from audiotag.features import spectral as ft
from audiotag.data.audio import load_audio, write_audio
from audiotag.features.config import FeatureConfig
from audiotag.features.spectral import FeatureExtractor, compute_features, n_frames, samples_for_frames

SR = 44100
RAW = dict(normalize="none", standardize="none", image_size=None)  # the dB features themselves
DB64, DB32, MFCC64, MFCC32 = 1e-3, 2e-2, 1e-3, 5e-3


def make_signal(seconds=3.0, seed=0):
    """Harmonic tone (440 Hz, 5 Hz vibrato) + a 0.3 s noise burst + a linear chirp 200 Hz -> 8 kHz."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * np.cumsum(440 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))) / SR
    y = sum(0.3 / k * np.sin(k * phase) for k in range(1, 6))
    y = y + np.where((t > 1.0) & (t < 1.3), rng.normal(0, 0.3, t.size), 0.0)
    y = y + 0.1 * np.sin(2 * np.pi * (200 * t + 0.5 * (8000 - 200) / seconds * t ** 2))
    return y


@pytest.fixture(scope="module")
def y64():
    return make_signal()


def librosa_feature(kind, y, cfg=FeatureConfig()):
    """librosa's version of each kind (the reference)."""
    common = dict(sr=SR, hop_length=cfg.hop_length, window="hamming")
    if kind == "spectrogram":
        n = cfg.spectrogram_n_fft
        spec = librosa.stft(y, n_fft=n, hop_length=cfg.hop_length, window="hamming")
        return librosa.power_to_db(np.abs(spec) ** 2)[None]
    if kind == "logmel":
        mel = librosa.feature.melspectrogram(y=y, n_fft=cfg.n_fft, win_length=cfg.win_length, n_mels=cfg.n_mels,
                                             **common)
        return librosa.power_to_db(mel)[None]
    if kind == "mfcc":
        return librosa.feature.mfcc(y=y, n_mfcc=cfg.n_mfcc, n_fft=cfg.n_fft, n_mels=cfg.n_mels, **common)[None]
    if kind == "multires":
        return np.stack([librosa.power_to_db(librosa.feature.melspectrogram(y=y, n_fft=w, n_mels=cfg.n_mels, **common))
                         for w in cfg.multires_windows])
    raise ValueError(kind)


def ours(kind, y, **cfg):
    return FeatureExtractor(FeatureConfig(kind=kind, **RAW, **cfg))(torch.from_numpy(y)[None])[0].numpy()


def test_hamming_window_is_scipy_periodic_hamming():
    for n in (1103, 2048, 16384):
        ref = librosa.filters.get_window("hamming", n, fftbins=True)
        np.testing.assert_allclose(torch.hamming_window(n, periodic=True, dtype=torch.float64).numpy(), ref,
                                   rtol=0, atol=1e-15)
        np.testing.assert_allclose(ft.make_window("hamming", n, dtype=torch.float64).numpy(), ref, rtol=0, atol=0)


@pytest.mark.parametrize("kind", ["spectrogram", "logmel", "mfcc", "multires"])
def test_feature_matches_librosa_float64_and_float32(kind, y64):
    tol64, tol32 = (MFCC64, MFCC32) if kind == "mfcc" else (DB64, DB32)
    ref64 = librosa_feature(kind, y64)
    got64 = ours(kind, y64)
    assert got64.dtype == np.float64 and got64.shape == ref64.shape
    assert np.abs(got64 - ref64).max() < tol64
    y32 = y64.astype(np.float32)
    got32 = ours(kind, y32)
    assert got32.dtype == np.float32
    assert np.abs(got32 - librosa_feature(kind, y32)).max() < tol32
    # The float32 path is the float64 path up to float32 rounding.
    assert np.abs(got32 - got64).max() < tol32


def test_paper_shapes_and_db_floor(y64):
    for kind, (c, f) in {"spectrogram": (1, 513), "logmel": (1, 128), "mfcc": (1, 40), "multires": (3, 128)}.items():
        assert ours(kind, y64[:SR]).shape == (c, f, n_frames(SR, 512))
    db = ours("logmel", y64)
    assert db.max() - db.min() == pytest.approx(80.0, abs=1e-9)  # top_db=80 below the clip's own peak


def test_functional_float64_is_exact(y64):
    x = torch.from_numpy(y64)
    ref_spec = librosa.amplitude_to_db(np.abs(librosa.stft(y64, n_fft=1024, hop_length=512, window="hamming")))
    assert np.abs(ft.log_spectrogram(x).numpy() - ref_spec).max() < 1e-6  # power_to_db(|X|^2) == amplitude_to_db(|X|)
    mel = librosa.feature.melspectrogram(y=y64, sr=SR, n_fft=2048, hop_length=512, window="hamming")
    np.testing.assert_allclose(ft.mel_spectrogram(x).numpy(), mel, rtol=1e-7, atol=1e-12 * mel.max())
    assert np.abs(ft.log_mel(x).numpy() - librosa.power_to_db(mel)).max() < 1e-6
    mf = librosa.feature.mfcc(y=y64, sr=SR, n_mfcc=40, n_fft=2048, hop_length=512, window="hamming", n_mels=128)
    assert np.abs(ft.mfcc(x).numpy() - mf).max() < 1e-6


def test_dcase_baseline_short_window(y64):
    """25 ms window inside a 2048-point FFT, 10 ms hop, 64 mels: win_length < n_fft is centred like librosa's."""
    cfg = FeatureConfig(kind="logmel", n_fft=2048, win_length=1103, hop_length=441, n_mels=64, **RAW)
    got = FeatureExtractor(cfg)(torch.from_numpy(y64)[None])[0].numpy()
    ref = librosa_feature("logmel", y64, cfg)
    assert got.shape == (1, 64, n_frames(y64.size, 441)) == ref.shape
    assert np.abs(got - ref).max() < DB64


def test_clip_loaded_from_file_matches_librosa(tmp_path):
    path = tmp_path / "clip.wav"
    write_audio(path, 0.8 * make_signal(2.0, seed=1) / np.abs(make_signal(2.0, seed=1)).max(), SR)
    y = load_audio(path)
    got = FeatureExtractor(FeatureConfig(kind="logmel", **RAW))(torch.from_numpy(y)[None])[0].numpy()
    assert np.abs(got - librosa_feature("logmel", y)).max() < DB32


def test_trim_matches_librosa(y64):
    padded = np.concatenate([np.zeros(30000), 1e-5 * np.ones(12345), y64[:50000], np.zeros(40000)]).astype(np.float32)
    ref, ref_interval = librosa.effects.trim(padded, top_db=60)
    got, interval = ft.trim_silence(padded, top_db=60)
    assert tuple(interval) == tuple(ref_interval) and isinstance(got, np.ndarray)
    np.testing.assert_array_equal(got, ref)
    got_t, interval_t = ft.trim_silence(torch.from_numpy(padded), top_db=60)
    assert isinstance(got_t, torch.Tensor) and interval_t == interval
    silent = np.zeros(20000, dtype=np.float32)
    assert ft.trim_silence(silent)[1] == tuple(librosa.effects.trim(silent)[1]) == (0, 20000)
    cfg = FeatureConfig(trim_silence=True, trim_top_db=60)
    assert ft.prepare_clip(padded, cfg).size == interval[1] - interval[0]
    assert ft.prepare_clip(padded, FeatureConfig()) is padded


@pytest.mark.parametrize("kind", ["waveform", "spectrogram", "mfcc", "multires"])
def test_batch_equals_per_clip(kind, y64):
    waves = torch.from_numpy(np.stack([y64[:SR], y64[SR:2 * SR], 0.01 * y64[-SR:]]).astype(np.float32))
    extractor = FeatureExtractor(FeatureConfig(kind=kind))
    batch = extractor(waves)
    for i in range(3):
        torch.testing.assert_close(batch[i], extractor(waves[i:i + 1])[0], rtol=1e-5, atol=1e-5)


def test_chunked_batch_equals_whole(y64, monkeypatch):
    waves = torch.from_numpy(np.stack([y64[:SR], y64[-SR:]]).astype(np.float32))
    extractor = FeatureExtractor(FeatureConfig(kind="multires"))
    whole = extractor(waves)
    monkeypatch.setattr(ft, "STFT_CHUNK_BYTES", 1)  # one clip per chunk
    torch.testing.assert_close(extractor(waves), whole)


@pytest.mark.parametrize("standardize", ["clip", "bin", "none"])
@pytest.mark.parametrize("kind", ["waveform", "spectrogram", "logmel", "mfcc", "multires"])
def test_silent_clip_is_finite(kind, standardize):
    out = compute_features(np.zeros((2, 22050), dtype=np.float32),
                           FeatureConfig(kind=kind, standardize=standardize, image_size=64))
    assert torch.isfinite(out).all()
    if kind not in ("waveform", "mfcc") and standardize != "none" or kind == "mfcc" and standardize == "bin":
        assert out.abs().max() == 0  # a constant feature (MFCC: constant in time) standardises to zeros
    if kind == "logmel" and standardize == "none":
        assert torch.allclose(out, torch.full_like(out, -100.0))  # 10 log10(amin)


@pytest.mark.parametrize("seconds", [2, 3, 4, 5])
def test_output_shapes_for_crops(seconds):
    n = seconds * SR
    waves = torch.randn(1, n, generator=torch.Generator().manual_seed(seconds)) * 0.1
    kinds = ("waveform", "spectrogram", "logmel", "mfcc") + (("multires",) if seconds == 2 else ())
    for kind in kinds:
        for size in (None, 299) if kind in ("logmel", "multires") else (None,):
            extractor = FeatureExtractor(FeatureConfig(kind=kind, image_size=size))
            assert tuple(extractor(waves).shape) == (1, *extractor.output_shape(n))
    assert n_frames(n, 512) == librosa.stft(np.zeros(n), n_fft=2048, hop_length=512).shape[1]


def test_frames_and_samples_are_inverse():
    assert samples_for_frames(299, 512) == 152576
    for frames in (2, 299, 1000):  # the shortest crop for `frames` frames: one sample less loses a frame
        assert n_frames(samples_for_frames(frames, 512), 512) == frames
        assert n_frames(samples_for_frames(frames, 512) - 1, 512) == frames - 1
    assert FeatureExtractor(FeatureConfig(image_size=None)).output_shape(152576) == (1, 128, 299)


def test_resize_to_image():
    feats = torch.randn(2, 1, 128, 259, generator=torch.Generator().manual_seed(0))
    image = ft.resize_to_image(feats, 299)
    assert image.shape == (2, 3, 299, 299)
    assert torch.equal(image[:, 0], image[:, 1]) and torch.equal(image[:, 0], image[:, 2])  # 1 -> 3 copies
    assert torch.equal(ft.resize_to_image(torch.full((1, 1, 40, 300), 2.5), 299), torch.full((1, 3, 299, 299), 2.5))
    multi = torch.randn(1, 3, 128, 259)
    resized = ft.resize_to_image(multi, 299)
    assert not torch.equal(resized[:, 0], resized[:, 1])  # channels kept, not copied
    assert ft.resize_to_image(feats[0, 0], 64).shape == (3, 64, 64)
    assert ft.resize_to_image(feats, 259).shape == (2, 3, 259, 259)
    with pytest.raises(ValueError, match="channels"):
        ft.resize_to_image(torch.zeros(1, 2, 10, 10), 299)


def test_standardize_and_normalize():
    x = torch.randn(3, 2, 16, 20, dtype=torch.float64) * 7 + 40
    z = ft.standardize(x, "clip")
    torch.testing.assert_close(z.mean(dim=(1, 2, 3)), torch.zeros(3, dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(z.std(dim=(1, 2, 3), unbiased=False), torch.ones(3, dtype=torch.float64))
    zb = ft.standardize(x, "bin")
    torch.testing.assert_close(zb.mean(dim=-1), torch.zeros(3, 2, 16, dtype=torch.float64), atol=1e-12, rtol=0)
    waves = torch.tensor([[0.0, 0.5, -0.25], [0.0, 0.0, 0.0]])
    torch.testing.assert_close(ft.normalize_waves(waves, "peak"), torch.tensor([[0.0, 1.0, -0.5], [0.0, 0.0, 0.0]]))
    out = FeatureExtractor(FeatureConfig(kind="waveform"))(waves)
    assert out.shape == (2, 1, 3) and out.abs().max() == 1.0


def test_module_buffers_and_dtypes(y64):
    extractor = FeatureExtractor(FeatureConfig(kind="mfcc"))
    assert extractor.state_dict() == {}  # constants are derived from the config, not saved
    assert {name for name, _ in extractor.named_buffers()} == {"window", "mel_fb", "dct"}
    assert extractor.double().mel_fb.dtype == torch.float64
    with pytest.raises(TypeError, match="floating point"):
        extractor(torch.zeros(1, 1000, dtype=torch.int16))
    with pytest.raises(ValueError, match="batch, samples"):
        extractor(torch.zeros(2, 2, 1000))


def test_compute_features_single_and_batch(y64):
    cfg = FeatureConfig(kind="logmel", image_size=None)
    single = compute_features(y64[:SR].astype(np.float32), cfg)
    batch = compute_features([y64[:SR].astype(np.float32)] * 3, cfg, batch_size=2)
    assert single.shape == (1, 128, n_frames(SR, 512)) and batch.shape == (3, *single.shape)
    torch.testing.assert_close(batch[2], single)
    assert compute_features(y64[:SR], cfg).dtype == torch.float64


def test_feature_config_round_trip_and_validation():
    cfg = FeatureConfig(kind="multires", win_length=None, multires_windows=(1024, 4096), standardize="bin",
                        image_size=None, spectrogram_n_fft=None, top_db=None)
    assert FeatureConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert FeatureConfig.from_dict(FeatureConfig().to_dict()) == FeatureConfig()
    for bad in (dict(kind="cqt"), dict(standardize="global"), dict(win_length=4096), dict(hop_length=0),
                dict(image_size=0), dict(multires_windows=()), dict(amin=0.0)):
        with pytest.raises(ValueError):
            FeatureConfig(**bad)
    # spectrogram_n_fft=None falls back to n_fft: 1025 bins at 2048.
    assert FeatureExtractor(FeatureConfig(kind="spectrogram", spectrogram_n_fft=None, image_size=None)
                            ).output_shape(SR) == (1, 1025, n_frames(SR, 512))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", ["logmel", "mfcc", "multires", "spectrogram"])
def test_cuda_equals_cpu(kind, y64):
    waves = torch.from_numpy(np.stack([y64[:SR], y64[-SR:]]).astype(np.float32))
    extractor = FeatureExtractor(FeatureConfig(kind=kind))
    cpu = extractor(waves)
    gpu = extractor.to("cuda")(waves.to("cuda")).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=0, atol=1e-3)  # standardised units: float32 FFT differences only


# ------------------------------------------------------------------- TensorFlow conventions (DCASE 2018 baseline)
def tf_mel_reference(sample_rate, n_fft, n_mels, fmin, fmax):
    """TensorFlow's linear_to_mel_weight_matrix written out element by element (plain Python, math.log), in
    TensorFlow's (bins, mels) layout: mel(f) = 1127 ln(1 + f/700); bin k at k * (sr/2) / (n_bins - 1); band edges
    equally spaced in mel; triangle min(rising, falling) clipped at 0; the DC row zero."""
    mel = lambda f: 1127.0 * math.log(1.0 + f / 700.0)
    n_bins = n_fft // 2 + 1
    lo, hi = mel(fmin), mel(fmax)
    edges = [lo + (hi - lo) * i / (n_mels + 1) for i in range(n_mels + 2)]
    out = np.zeros((n_bins, n_mels))
    for k in range(1, n_bins):
        m = mel(k * (sample_rate / 2) / (n_bins - 1))
        for j in range(n_mels):
            rising = (m - edges[j]) / (edges[j + 1] - edges[j])
            falling = (edges[j + 2] - m) / (edges[j + 2] - edges[j + 1])
            out[k, j] = max(0.0, min(rising, falling))
    return out


def tf_baseline_log_mel(y, win=1102, hop=441, n_fft=2048):
    """inputs.py's clip_to_log_mel_examples up to the log, in numpy: frames from sample 0 (no padding, last partial
    frame dropped), TensorFlow's periodic Hann (0.5 - 0.5 cos(2 pi n / win) for even win), rfft padded at the end
    to n_fft, |.|, @ mel matrix, ln(. + 0.001). Returns (64, T)."""
    frames = np.lib.stride_tricks.sliding_window_view(y, win)[::hop]
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)
    magnitude = np.abs(np.fft.rfft(frames * hann, n=n_fft))
    return np.log(magnitude @ tf_mel_reference(SR, n_fft, 64, 125.0, 7500.0) + 0.001).T


def test_htk_tf_mel_matrix_by_hand():
    # sr 8000, n_fft 8: bins at 0, 1000, 2000, 3000, 4000 Hz; 2 bands over 0-4000 Hz, so the band edges are
    # 0, M/3, 2M/3, M with M = mel(4000) = 1127 ln(47/7) and mel(1000 k) = 1127 ln((7 + 10 k) / 7).
    r = lambda k: math.log((7 + 10 * k) / 7) / math.log(47 / 7)  # mel(1000 k) / M
    expected = np.array([[0, 2 - 3 * r(1), 0, 0, 0],                             # band 0 peaks at 715 mel (~580 Hz)
                         [0, 3 * r(1) - 1, 3 - 3 * r(2), 3 - 3 * r(3), 0]])      # band 1 peaks at 1431 mel
    got = ft.htk_tf_mel_matrix(8000, 8, 2, 0.0, 4000.0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)
    assert got[0, 1] == pytest.approx(0.60211, abs=1e-5)
    np.testing.assert_allclose(got, tf_mel_reference(8000, 8, 2, 0.0, 4000.0).T, rtol=0, atol=1e-14)


def test_htk_tf_mel_matrix_baseline_size():
    got = ft.htk_tf_mel_matrix(SR, 2048, 64, 125.0, 7500.0)
    ref = tf_mel_reference(SR, 2048, 64, 125.0, 7500.0).T
    assert got.shape == (64, 1025)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12)
    assert (got[:, 0] == 0).all() and got.max() <= 1.0 and got.min() == 0.0
    freqs = np.arange(1025) * SR / 2048
    assert freqs[got.sum(axis=0) > 0].min() > 125.0 and freqs[got.sum(axis=0) > 0].max() < 7500.0
    # No area normalisation: wide high bands keep peaks near 1 and so weigh more bins in total than narrow low ones.
    # (the bandwidth in Hz grows like 700 + f: about 9x from the first band to the last).
    assert got[-1].max() > 0.95 and got[-1].sum() > 5 * got[0].sum()
    fb = ft.mel_filterbank(SR, 2048, 64, 125.0, 7500.0, dtype=torch.float64, scale="htk_tf")
    np.testing.assert_array_equal(fb.numpy(), got)
    with pytest.raises(ValueError, match="fmax"):
        ft.htk_tf_mel_matrix(SR, 2048, 64, 125.0, 30000.0)
    with pytest.raises(ValueError, match="mel scale"):
        ft.mel_filterbank(scale="htk")


def test_baseline_features_equal_tensorflow_recipe(y64):
    from audiotag.models.baseline import BASELINE_FEATURES

    ref = tf_baseline_log_mel(y64)
    # The functional path with float64 constants: the same numbers up to float64 rounding.
    magnitude = ft.spectrogram(torch.from_numpy(y64), 2048, 441, "hann", 1102, center=False, magnitude=True)
    mel_fb = ft.mel_filterbank(SR, 2048, 64, 125.0, 7500.0, dtype=torch.float64, scale="htk_tf")
    exact = ft.log_offset(mel_fb @ magnitude, 0.001).numpy()
    assert exact.shape == ref.shape == (64, 1 + (y64.size - 1102) // 441)
    assert np.abs(exact - ref).max() < 1e-9
    # The default path (float32 window and mel matrix): their rounding leaks ~1e-7 of the loud bins into quiet ones,
    # which ln(. + 0.001) magnifies near the offset; float32 input adds float32 FFT rounding.
    got64 = compute_features(y64, BASELINE_FEATURES).numpy()
    assert got64.shape == (1, *ref.shape) and np.abs(got64[0] - ref).max() < 1e-3
    got32 = compute_features(y64.astype(np.float32), BASELINE_FEATURES).numpy()
    assert np.abs(got32[0] - tf_baseline_log_mel(y64.astype(np.float32).astype(np.float64))).max() < 1e-2


@pytest.mark.parametrize("n", [11686, 13230, 22050, 44100, 3 * SR + 7])
def test_baseline_frame_count_and_crops(n, y64):
    from audiotag.models.baseline import BASELINE_FEATURES as cfg

    expected = 1 + (n - 1102) // 441                   # tf.contrib.signal.stft, pad_end=False
    assert ft.frames_for(cfg, n) == expected
    assert FeatureExtractor(cfg).output_shape(n) == (1, 64, expected)
    y = np.tile(y64, 2)[:n]
    assert compute_features(y, cfg).shape == (1, 64, expected)
    assert ft.samples_for(cfg, expected) <= n < ft.samples_for(cfg, expected + 1)
    # Non-centred frames are local: frames a..a+k of the whole clip are the feature of just those samples.
    a, k = 3, 25
    whole = compute_features(y, cfg)
    crop = compute_features(y[a * 441: a * 441 + ft.samples_for(cfg, k)], cfg)
    torch.testing.assert_close(crop, whole[..., a:a + k], rtol=0, atol=1e-9)


def test_frame_helpers():
    assert ft.samples_for_frames(25, 441, center=False, win_length=1102) == 11686
    assert n_frames(11686, 441, center=False, win_length=1102) == 25
    assert n_frames(11685, 441, center=False, win_length=1102) == 24
    assert n_frames(1101, 441, center=False, win_length=1102) == 0
    assert ft.frames_for(FeatureConfig(), 152576) == n_frames(152576, 512) == 299   # centred: unchanged
    assert ft.frames_for(FeatureConfig(kind="spectrogram", center=False), 2048) == 3  # its 1024-sample window
    with pytest.raises(ValueError, match="win_length"):
        n_frames(1000, 441, center=False)
    with pytest.raises(ValueError, match="shorter than one window"):
        compute_features(np.zeros(1000), FeatureConfig(center=False, win_length=1102, image_size=None))


def test_baseline_silent_clip_is_finite():
    from audiotag.models.baseline import BASELINE_FEATURES

    out = compute_features(np.zeros((2, 22050), dtype=np.float32), BASELINE_FEATURES)
    assert out.shape == (2, 1, 64, 48)
    assert torch.allclose(out, torch.full_like(out, math.log(0.001)))   # ln(0 + 0.001), no -inf


def test_magnitude_db_is_amplitude_to_db(y64):
    """magnitude=True with dB: 20 log10 of the magnitude mel spectrogram = librosa.amplitude_to_db(amin=1e-5)."""
    got = ours("logmel", y64, magnitude=True)
    mel = librosa.feature.melspectrogram(y=y64, sr=SR, n_fft=2048, hop_length=512, window="hamming", power=1.0)
    assert np.abs(got[0] - librosa.amplitude_to_db(mel, amin=1e-5, top_db=80.0)).max() < DB64
    ln = ours("logmel", y64, log="log_offset", log_offset=0.01)
    assert np.abs(ln[0] - np.log(librosa.feature.melspectrogram(y=y64, sr=SR, n_fft=2048, hop_length=512,
                                                                 window="hamming") + 0.01)).max() < 1e-5


def test_feature_config_tf_fields_round_trip_and_validation():
    from audiotag.models.baseline import BASELINE_FEATURES

    assert FeatureConfig.from_dict(json.loads(json.dumps(BASELINE_FEATURES.to_dict()))) == BASELINE_FEATURES
    old = {k: v for k, v in FeatureConfig().to_dict().items()
           if k not in ("center", "magnitude", "mel_scale", "log", "log_offset")}   # a checkpoint from before
    assert FeatureConfig.from_dict(old) == FeatureConfig()
    for bad, match in ((dict(mel_scale="htk"), "mel_scale"), (dict(log="log10"), "unknown log"),
                       (dict(log_offset=0.0), "log_offset"), (dict(kind="multires", center=False), "multires"),
                       (dict(mel_scale="htk_tf", fmax=30000.0), "fmax"),
                       (dict(mel_scale="htk_tf", fmin=8000.0, fmax=4000.0), "fmin")):
        with pytest.raises(ValueError, match=match):
            FeatureConfig(**bad)
