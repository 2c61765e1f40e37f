"""Audio I/O: formats, subtypes, mono mix-down, resampling, bad files, normalisation and cropping."""
import numpy as np
import pytest
import soundfile as sf

from audiotag.data.audio import (AudioError, center_crop, fit_length, load_audio, normalize, random_crop,
                                 window_crops, write_audio)
from audiotag.data.labels import SAMPLE_RATE


def sine(freq=1000.0, rate=SAMPLE_RATE, seconds=0.5, amp=0.5):
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def peak_frequency(wave, rate):
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return np.fft.rfftfreq(len(wave), 1 / rate)[np.argmax(spectrum)]


@pytest.mark.parametrize("ext, atol", [(".wav", 1e-4), (".flac", 1e-4), (".ogg", 0.05)])
def test_formats_read_back(tmp_path, ext, atol):
    wave = sine()
    path = tmp_path / f"clip{ext}"
    write_audio(path, wave)
    out = load_audio(path)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) - len(wave)) <= (0 if ext != ".ogg" else 2048)
    n = min(len(out), len(wave))
    if ext == ".ogg":  # lossy: compare the content, not the samples
        assert peak_frequency(out, SAMPLE_RATE) == pytest.approx(1000, abs=5)
        assert np.sqrt(np.mean(out[:n] ** 2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)
    else:
        np.testing.assert_allclose(out[:n], wave[:n], atol=atol)


@pytest.mark.parametrize("subtype, atol", [("PCM_16", 1 / 2 ** 15), ("PCM_24", 1 / 2 ** 23),
                                           ("PCM_32", 1 / 2 ** 31), ("FLOAT", 0.0)])
def test_wav_subtypes(tmp_path, subtype, atol):
    wave = sine(amp=0.8)
    path = tmp_path / f"{subtype}.wav"
    write_audio(path, wave, subtype=subtype)
    assert sf.info(str(path)).subtype == subtype
    out = load_audio(path)
    assert out.dtype == np.float32 and len(out) == len(wave)
    np.testing.assert_allclose(out, wave, atol=atol + 1e-7)


def test_stereo_is_mixed_to_mono(tmp_path):
    left, right = sine(amp=0.6), np.full(int(SAMPLE_RATE * 0.5), 0.2, dtype=np.float32)
    path = tmp_path / "stereo.wav"
    write_audio(path, np.stack([left, right], axis=1), subtype="FLOAT")
    out = load_audio(path)
    assert out.shape == left.shape
    np.testing.assert_allclose(out, (left + right) / 2, atol=1e-6)


@pytest.mark.parametrize("rate", [48000, 22050])
def test_resampled_to_working_rate(tmp_path, rate):
    seconds, freq = 1.0, 1000.0
    path = tmp_path / f"{rate}.wav"
    write_audio(path, sine(freq, rate, seconds), rate, subtype="FLOAT")
    out = load_audio(path)
    assert out.dtype == np.float32
    assert len(out) == pytest.approx(SAMPLE_RATE * seconds, abs=1)
    assert peak_frequency(out, SAMPLE_RATE) == pytest.approx(freq, abs=2)
    # amplitude preserved away from the edges
    assert np.max(np.abs(out[1000:-1000])) == pytest.approx(0.5, abs=0.01)


def test_other_target_rate(tmp_path):
    write_audio(tmp_path / "a.wav", sine(seconds=1.0))
    assert len(load_audio(tmp_path / "a.wav", sample_rate=16000)) == 16000


def _error_for(path):
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert err.value.path == str(path) and str(path) in str(err.value)
    return err.value.reason


def test_bad_files_raise_audio_error_naming_the_file(tmp_path):
    assert "not found" in _error_for(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    assert "0 bytes" in _error_for(tmp_path / "empty.wav")
    (tmp_path / "garbage.wav").write_bytes(np.random.default_rng(0).bytes(4096))
    assert "unreadable" in _error_for(tmp_path / "garbage.wav")
    sf.write(str(tmp_path / "noframes.wav"), np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    assert (tmp_path / "noframes.wav").stat().st_size > 0  # a valid header, no samples
    assert "zero-length" in _error_for(tmp_path / "noframes.wav")
    wave = sine()
    wave[100] = np.nan
    sf.write(str(tmp_path / "nan.wav"), wave, SAMPLE_RATE, subtype="FLOAT")
    assert "NaN" in _error_for(tmp_path / "nan.wav")


def test_silent_clip_loads_and_stays_silent(tmp_path):
    write_audio(tmp_path / "silence.wav", np.zeros(4410, dtype=np.float32))
    out = load_audio(tmp_path / "silence.wav")
    assert len(out) == 4410 and not out.any()
    for mode in ("peak", "rms", "none"):
        normed = normalize(out, mode)
        assert np.isfinite(normed).all() and not normed.any()


def test_normalize_modes():
    wave = sine(amp=0.25)
    peak = normalize(wave, "peak")
    assert peak.dtype == np.float32 and np.max(np.abs(peak)) == pytest.approx(1.0, abs=1e-6)
    rms = normalize(wave, "rms", target=0.1)
    assert np.sqrt(np.mean(rms.astype(np.float64) ** 2)) == pytest.approx(0.1, rel=1e-5)
    np.testing.assert_array_equal(normalize(wave, "none"), wave)
    with pytest.raises(ValueError, match="unknown normalisation"):
        normalize(wave, "loudness")


def test_fit_length_repeat_and_pad():
    wave = np.arange(1, 4, dtype=np.float32)  # [1, 2, 3]
    np.testing.assert_array_equal(fit_length(wave, 8, "repeat"), [1, 2, 3, 1, 2, 3, 1, 2])
    np.testing.assert_array_equal(fit_length(wave, 5, "pad"), [1, 2, 3, 0, 0])
    long = np.arange(10, dtype=np.float32)
    assert fit_length(long, 4) is long  # long enough: untouched
    np.testing.assert_array_equal(fit_length(np.zeros(0, np.float32), 3), [0, 0, 0])
    with pytest.raises(ValueError, match="short-clip policy"):
        fit_length(wave, 8, "mirror")


def test_random_crop_deterministic_and_in_range():
    wave = np.arange(1000, dtype=np.float32)
    a = [random_crop(wave, 100, np.random.default_rng(7)) for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(200):
        crop = random_crop(wave, 100, rng)
        assert len(crop) == 100
        start = int(crop[0])
        assert 0 <= start <= 900
        np.testing.assert_array_equal(crop, wave[start:start + 100])  # a contiguous window of the clip
        starts.add(start)
    assert len(starts) > 50  # offsets really vary
    short = random_crop(np.array([1, 2], np.float32), 5, rng)
    np.testing.assert_array_equal(short, [1, 2, 1, 2, 1])


def test_center_crop():
    wave = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(center_crop(wave, 4), [3, 4, 5, 6])
    np.testing.assert_array_equal(center_crop(wave, 10), wave)
    np.testing.assert_array_equal(center_crop(np.array([1, 2, 3], np.float32), 4, "pad"), [1, 2, 3, 0])


def test_window_crops_cover_the_clip():
    wave = np.arange(1000, dtype=np.float32)
    crops = window_crops(wave, 300)
    assert crops.shape == (6, 300)  # ceil(2 * 1000 / 300) - 1 windows
    assert crops[0, 0] == 0 and crops[-1, -1] == 999  # first and last sample covered
    covered = np.zeros(1000, bool)
    for c in crops:
        covered[int(c[0]):int(c[-1]) + 1] = True
        assert np.all(np.diff(c) == 1)
    assert covered.all()
    starts = crops[:, 0]
    assert np.all(np.diff(starts) <= 150)  # neighbours overlap by at least half a window
    assert window_crops(wave, 300, n_crops=3).shape == (3, 300)
    assert window_crops(np.ones(100, np.float32), 300).shape == (1, 300)  # short clip: one fitted window


# ------------------------------------------------------------------------------------------------- resampling
def test_resampling_filter_meets_its_specification():
    """The Kaiser design: odd, symmetric, unit gain at 0 Hz, flat pass band up to 91.3 % of the lower Nyquist
    frequency, at least 100 dB down (less Kaiser's usual ~1 dB of slack) from 100 % on."""
    from scipy.signal import freqz

    from audiotag.data.audio import (RESAMPLE_ATTENUATION_DB, RESAMPLE_PASSBAND, RESAMPLE_STOPBAND,
                                     resampling_factors, resampling_filter)

    assert resampling_factors(44100, 16000) == (160, 441)
    up, down = resampling_factors(48000, 44100)
    h = resampling_filter(up, down)
    assert len(h) % 2 == 1 and np.allclose(h, h[::-1]) and h.sum() == pytest.approx(1.0, abs=1e-12)
    m = max(up, down)
    w, resp = freqz(h, worN=np.linspace(0, np.pi / m * 1.5, 3000))
    rel = w / (np.pi / m)
    db = 20 * np.log10(np.maximum(np.abs(resp), 1e-300))
    assert np.abs(db[rel <= RESAMPLE_PASSBAND]).max() < 0.01
    assert db[rel >= RESAMPLE_STOPBAND].max() < -(RESAMPLE_ATTENUATION_DB - 1.5)
    with pytest.raises(ValueError, match="positive integers"):
        resampling_factors(44100.5, 16000)


def test_resample_is_the_documented_sum_and_removes_what_the_new_rate_cannot_hold():
    """y[j] = up * sum_i x[i] h[j down + half - i up] (what the page's JavaScript computes), ceil(n up / down)
    samples; at 16 kHz a 1 kHz tone keeps its amplitude and a 9 kHz one (above the new Nyquist frequency, 8 kHz) is
    gone."""
    import math

    from audiotag.data.audio import resample, resampling_filter

    rng = np.random.default_rng(0)
    x = rng.standard_normal(2000).astype(np.float32)
    up, down = 160, 441
    y = resample(x, 44100, 16000)
    assert len(y) == math.ceil(len(x) * up / down) and y.dtype == np.float32
    h = np.asarray(resampling_filter(up, down))
    half = (len(h) - 1) // 2
    for j in (0, 1, 100, len(y) // 2, len(y) - 1):
        t = j * down + half
        i = np.arange(max(0, math.ceil((t - len(h) + 1) / up)), min(len(x) - 1, t // up) + 1)
        assert y[j] == pytest.approx(up * np.sum(x[i].astype(np.float64) * h[t - i * up]), abs=1e-6)
    t = np.arange(44100) / 44100
    core = slice(2000, -2000)
    assert np.abs(resample(np.sin(2 * np.pi * 1000 * t), 44100, 16000)[core]).max() == pytest.approx(1.0, abs=1e-3)
    assert np.abs(resample(np.sin(2 * np.pi * 9000 * t), 44100, 16000)[core]).max() < 1e-4
    assert np.array_equal(resample(x, 16000, 16000), x)


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    """Files written atomically are readable by others (a web server serving the book's models), like open()'s."""
    import os

    from audiotag.fileio import write_text

    write_text(tmp_path / "a.txt", "x")
    (tmp_path / "b.txt").write_text("x")
    assert os.stat(tmp_path / "a.txt").st_mode & 0o777 == os.stat(tmp_path / "b.txt").st_mode & 0o777
