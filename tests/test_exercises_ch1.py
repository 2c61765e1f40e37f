"""The solutions of chapter 1's exercises (audiotag.book.exercises.ch1_data) and the chapter's two figures of sound
(plots.sample_rate_comparison, plots.waveform_grid's axes), on data whose answers are known."""
import math

import numpy as np
import pandas as pd
import pytest

from audiotag.book import plots
from audiotag.book.exercises import ch1_data as ex

RATE = 44100


def tones(freqs, seconds=1.0, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    return sum(np.sin(2 * np.pi * f * t) for f in freqs).astype(np.float32) / len(freqs)


def test_pcm_facts_of_cd_audio_and_of_stereo_24_bit():
    cd = ex.pcm_facts(44100, 16, 1, seconds=18 * 3600)
    assert cd["nyquist_hz"] == 22050
    assert cd["bytes_per_second"] == 88200
    assert cd["megabytes_per_hour"] == pytest.approx(317.52)
    assert cd["bytes"] == 88200 * 18 * 3600
    studio = ex.pcm_facts(48000, 24, 2)
    assert studio["bytes_per_second"] == 288000 and "bytes" not in studio
    with pytest.raises(ValueError):
        ex.pcm_facts(44100, 12, 1)


def test_average_spectrum_peaks_at_the_tone_and_keeps_the_power():
    wave = tones([1000.0])
    freqs, density = ex.average_spectrum(wave, RATE)
    assert freqs[-1] == RATE / 2 and len(freqs) == 1025
    assert abs(freqs[np.argmax(density)] - 1000) < RATE / 2048
    noise = np.random.default_rng(0).normal(0, 0.1, 2 * RATE).astype(np.float32)
    freqs, density = ex.average_spectrum(noise, RATE)
    # the one-sided density integrated over frequency is the mean square (Parseval)
    assert density.sum() * (freqs[1] - freqs[0]) == pytest.approx(np.mean(noise ** 2), rel=0.03)
    short_freqs, short = ex.average_spectrum(noise[:500], RATE)          # shorter than one frame: one frame of 500
    assert len(short) == 251 and short_freqs[-1] == RATE / 2
    _, coarse = ex.average_spectrum(noise, 8000, resolution_hz=RATE / 2048)
    assert len(coarse) == 187                     # the even FFT size with bins about 21.5 Hz wide at 8 kHz: 372


def test_a_low_rate_removes_the_tone_above_its_nyquist_frequency():
    wave = tones([1000.0, 6000.0])               # equal power below and above 4 kHz
    out = ex.what_a_rate_removes(wave, RATE, 8000)
    assert out["nyquist_hz"] == 4000
    assert out["removed_share"] == pytest.approx(0.5, abs=0.01)
    assert len(out["low"]) == 8000
    freqs, density = ex.average_spectrum(out["low"], 8000)
    assert abs(freqs[np.argmax(density)] - 1000) < 8
    assert np.mean(out["low"] ** 2) == pytest.approx(0.125, rel=0.05)     # the 1 kHz half of the power stays
    assert ex.what_a_rate_removes(tones([500.0]), RATE, 8000)["removed_share"] < 1e-3
    with pytest.raises(ValueError):
        ex.what_a_rate_removes(wave, 8000, 16000)


def test_least_verified_class_estimates_and_counts_wrong_labels():
    summary = pd.DataFrame({"train": [10, 8, 5], "verified": [5, 2, 4]}, index=["A", "B", "C"])
    train = pd.DataFrame({"fname": [f"b{i}.wav" for i in range(8)], "label": ["B"] * 8})
    out = ex.least_verified_class(summary, 0.25, train, {"b0.wav": "A", "b5.wav": "C", "x.wav": "B"})
    assert out["label"] == "B" and out["verified_share"] == pytest.approx(0.25)
    assert out["unverified"] == 6 and out["expected_wrong"] == pytest.approx(1.5)
    assert out["actual_wrong"] == 2
    assert ex.least_verified_class(summary, 0.3)["actual_wrong"] is None


def test_least_verified_class_on_a_planned_corpus(tmp_path):
    """On the synthetic corpus's plan (its CSV rows and true classes, no audio rendered): the counts add up."""
    from audiotag.data.datasets import TaggingDataset
    from audiotag.data.labels import LABELS
    from audiotag.data.synth import CorpusConfig, plan_corpus

    plan = [s for s in plan_corpus(CorpusConfig(clips_per_class=6), seed=0) if s.split == "train"]
    train = pd.DataFrame({"fname": [s.fname for s in plan], "label": [s.label for s in plan],
                          "label_index": [LABELS.index(s.label) for s in plan],
                          "manually_verified": [bool(s.manually_verified) for s in plan], "path": ""})
    mislabeled = {s.fname: s.true_label for s in plan if s.label != s.true_label}
    summary = TaggingDataset("synthetic", tmp_path, tuple(LABELS), train, None).summary()
    wrong_share = len(mislabeled) / int((~train["manually_verified"]).sum())
    assert wrong_share == pytest.approx(0.12, abs=0.01)
    out = ex.least_verified_class(summary, wrong_share, train, mislabeled)
    share = summary["verified"] / summary["train"]
    assert out["verified_share"] == pytest.approx(share.min())
    assert out["expected_wrong"] == pytest.approx(out["unverified"] * wrong_share)
    assert 0 <= out["actual_wrong"] <= out["unverified"]
    # every wrong label sits on an unverified clip of its CSV class
    wrong_rows = train[train["fname"].isin(set(mislabeled))]
    assert not wrong_rows["manually_verified"].any()
    assert out["actual_wrong"] == int((wrong_rows["label"] == out["label"]).sum())


def test_standard_error_and_the_clips_it_needs():
    assert ex.score_standard_error(0.5, 100) == pytest.approx(0.05)
    assert ex.score_standard_error(0.94, 301) == pytest.approx(math.sqrt(0.94 * 0.06 / 301))
    both = ex.score_standard_error(0.9, np.array([301, 1299]))
    assert both[0] / both[1] == pytest.approx(math.sqrt(1299 / 301))
    assert ex.score_standard_error(1.0, 10) == 0
    assert ex.clips_for_standard_error(0.9, 0.01) == 900
    assert ex.clips_for_standard_error(0.95, 0.005) == 1900
    n = ex.clips_for_standard_error(0.8, 0.013)
    assert ex.score_standard_error(0.8, n) <= 0.013 < ex.score_standard_error(0.8, n - 1)
    with pytest.raises(ValueError):
        ex.score_standard_error(1.2, 10)


def test_longest_share():
    out = ex.longest_share([1.0] * 10 + [10.0], k=1)
    assert out["share"] == pytest.approx(0.5) and out["seconds"] == 10 and out["total_seconds"] == 20
    assert out["clip_share"] == pytest.approx(1 / 11)
    assert ex.longest_share([2.0, 3.0], k=10)["share"] == 1.0
    with pytest.raises(ValueError):
        ex.longest_share([])


def test_waveform_grid_has_time_and_amplitude_axes_on_its_outer_panels():
    waves = {c: np.zeros(100) for c in "abcde"}
    fig = plots.waveform_grid(waves, 100, columns=2)
    labels = [(ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]
    assert labels == [("a", "", "amplitude"), ("b", "", ""), ("c", "", "amplitude"),
                      ("d", "time (s)", ""), ("e", "time (s)", "amplitude")]
    quiet = plots.waveform_grid({"q": 0.1 * np.ones(10)}, 10, columns=1, amplitude_limit=None)
    assert quiet.axes[0].get_ylim() == pytest.approx((-0.11, 0.11))


def test_sample_rate_comparison_marks_each_nyquist_frequency():
    wave = tones([1000.0, 6000.0])
    low = ex.what_a_rate_removes(wave, RATE, 8000)["low"]
    versions = {"44.1 kHz": (wave, RATE), "8 kHz": (low, 8000)}
    spectra = {k: ex.average_spectrum(w, r) for k, (w, r) in versions.items()}
    fig = plots.sample_rate_comparison(versions, spectra, (0.5, 0.505))
    top, zoom, spectrum = fig.axes
    assert top.get_xlabel() == "time (s)" and top.get_ylabel() == "amplitude"
    assert [len(line.get_xdata()) for line in zoom.get_lines()] == [222, 41]     # samples in 5 ms, ends included
    nyquists = sorted(line.get_xdata()[0] for line in spectrum.get_lines() if line.get_linestyle() == "--")
    assert nyquists == [4.0, 22.05]
