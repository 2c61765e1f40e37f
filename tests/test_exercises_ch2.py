"""Chapter 2's exercise solutions (``audiotag.book.exercises.ch2_features``) against values known in closed form
and against librosa."""
from __future__ import annotations

import librosa
import numpy as np
import pytest

from audiotag.book.exercises import ch2_features as ex
from audiotag.features.spectral import mel_filterbank, samples_for_frames


def test_mel_scale_matches_librosa_htk_and_inverts():
    assert ex.hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.1)       # the scale's anchor: 1 kHz is ~1000 mel
    assert ex.hz_to_mel(0.0) == 0.0
    freqs = np.array([50.0, 440.0, 880.0, 1760.0, 8000.0, 22050.0])
    np.testing.assert_allclose(ex.hz_to_mel(freqs), librosa.hz_to_mel(freqs, htk=True), rtol=1e-12)
    np.testing.assert_allclose(ex.mel_to_hz(ex.hz_to_mel(freqs)), freqs, rtol=1e-12)
    np.testing.assert_allclose(ex.mel_to_hz([500.0, 2000.0]), librosa.mel_to_hz([500.0, 2000.0], htk=True))
    # An octave spans more mels the higher it lies, up to 2595 log10(2) = 781 mel where the scale is logarithmic.
    low, high = ex.hz_to_mel(880.0) - ex.hz_to_mel(440.0), ex.hz_to_mel(1760.0) - ex.hz_to_mel(880.0)
    assert low == pytest.approx(367.8, abs=0.1) and high == pytest.approx(499.0, abs=0.1)
    assert 730 < ex.hz_to_mel(16000.0) - ex.hz_to_mel(8000.0) < 2595 * np.log10(2)
    assert isinstance(ex.hz_to_mel(440.0), float)


def test_resolution_table_of_the_paper_window():
    table = ex.resolution_table((2048, 16384), hop_length=512, sample_rate=44100)
    row = table.loc[2048]
    assert row["bin spacing (Hz)"] == pytest.approx(21.533, abs=1e-3)
    assert row["window (ms)"] == pytest.approx(46.44, abs=0.01)          # the paper's "46.44 ms"
    assert row["hop (ms)"] == pytest.approx(11.61, abs=0.01)             # the paper's "11.61 ms"
    assert row["frequency bins"] == 1025 and row["overlap (%)"] == pytest.approx(75.0)
    assert table.loc[16384, "bin spacing (Hz)"] == pytest.approx(44100 / 16384)


def test_crop_frames_inverts_samples_for_frames():
    assert ex.crop_frames(samples_for_frames(299, 512) / 44100) == 299
    assert ex.crop_frames(1.0, hop_length=512, sample_rate=44100) == 1 + 44100 // 512


@pytest.mark.parametrize("freq, n_fft", [(1000.0, 2048), (1000.0, 1024), (3000.0, 2048), (440.0, 8192)])
def test_sine_peak_lands_in_its_bin(freq, n_fft):
    assert ex.sine_peak_bin(freq, 44100, n_fft) == round(freq * n_fft / 44100)


def test_power_of_a_sine_in_db():
    assert ex.mean_power_db(ex.sine(1000.0, amplitude=1.0)) == pytest.approx(10 * np.log10(0.5), abs=1e-3)
    # Halving the amplitude quarters the power: 6.02 dB less.
    drop = ex.mean_power_db(ex.sine(1000.0)) - ex.mean_power_db(ex.sine(1000.0, amplitude=0.5))
    assert drop == pytest.approx(20 * np.log10(2), abs=1e-3)
    assert len(ex.sine(100.0, 8000, 0.5)) == 4000


def test_mel_band_table_matches_the_package_filterbank():
    table = ex.mel_band_table(128, 44100)
    assert len(table) == 128 and table["centre (Hz)"].is_monotonic_increasing
    assert table["upper edge (Hz)"].iloc[-1] == pytest.approx(22050.0)
    # Each triangle of the filterbank peaks at the FFT bin nearest its centre (bins are 21.5 Hz apart).
    fb = mel_filterbank(44100, 2048, 128).numpy()
    peak_hz = fb.argmax(axis=1) * 44100 / 2048
    assert np.abs(peak_hz - table["centre (Hz)"].to_numpy()).max() <= 44100 / 2048
    # Slaney's scale: equal widths below 1 kHz, growing widths above.
    widths = table["width (Hz)"].to_numpy()
    assert np.allclose(widths[:5], widths[0]) and widths[-1] > 10 * widths[0]
    assert len(ex.mel_band_table(16, 44100)) == 16


def test_beta_lambda_stats():
    stats = ex.beta_lambda_stats((0.2, 1.0), n=20000, seed=0)
    assert list(stats.index) == [0.2, 1.0]
    np.testing.assert_allclose(stats["mean lambda"], 0.5, atol=0.01)
    np.testing.assert_allclose(stats["std lambda"], stats["std in theory"], rtol=0.03)
    share = stats["share within 0.1 of 0 or 1"]
    assert share[1.0] == pytest.approx(0.2, abs=0.015)           # Beta(1, 1) is uniform on [0, 1]
    assert share[0.2] > 0.5                                        # small alpha: most mixes are nearly one clip


def test_chapter2_figures():
    """The figures chapter 2 adds to audiotag.book.plots draw what they say."""
    from audiotag.book import plots
    from audiotag.features.spectral import make_window

    wave = ex.sine(1000.0, 44100, 0.2)
    fig = plots.stft_framing(wave, 44100, make_window("hamming", 2048).numpy(), 512, start=0, n_frames=3)
    assert len(fig.axes) == 4 and len(fig.axes[0].lines) == 4            # excerpt + 3 windows; 3 frame panels
    power = np.ones((1025, 20))
    fig = plots.power_and_db(power, 10 * np.log10(power), 44100, 512, max_hz=8000)
    assert fig.axes[0].images[0].get_array().shape == (373, 20)          # bins up to 8 kHz only
    fb = mel_filterbank(44100, 2048, 16).numpy()
    fig = plots.mel_filterbank_figure(fb, 44100)
    assert len(fig.axes[1].lines) == 16
    fig = plots.beta_densities((0.2, 1.0))
    assert len(fig.axes[0].lines) == 2
    np.testing.assert_allclose(fig.axes[0].lines[1].get_ydata(), 1.0)   # Beta(1, 1) is uniform
    fig = plots.line_curves({"a": np.zeros(5), "b": np.ones(5)}, xlabel="x")
    assert [line.get_label() for line in fig.axes[0].lines] == ["a", "b"]
