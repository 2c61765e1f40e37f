"""The synthetic default corpus: layout and schema, the FSD-like statistics, determinism, idempotence.

Statistical properties are checked on the *default* corpus plan (cheap: no audio is rendered); files are
checked on a small generated corpus with short clips (a few seconds to generate).
"""
from __future__ import annotations

import csv
import re
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiotag.data.labels import LABELS, SAMPLE_RATE
from audiotag.data.synth import (SOUND_MODELS, CorpusConfig, SynthError, generate_corpus, plan_corpus, read_info,
                                 render_clip)
from audiotag.data.synth import dsp
from audiotag.data.synth.corpus import PROGRESS_MARKER, clip_duration

SMALL = CorpusConfig(duration_median=0.6, max_duration=3.0)
SMALL_ARGS = dict(clips_per_class=2, test_clips_per_class=1, seed=7, progress=False, config=SMALL)
FNAME = re.compile(r"^[0-9a-f]{8}\.wav$")


def read_rows(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames), list(reader)


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    return generate_corpus(tmp_path_factory.mktemp("synth") / "corpus", workers=2, **SMALL_ARGS)


@pytest.fixture(scope="module")
def default_plan():
    return plan_corpus(CorpusConfig(), seed=0)


# ------------------------------------------------------------------------------------------------ layout


def test_layout_and_csv_schema_match_fsdkaggle2018(small):
    assert sorted(p.name for p in small.iterdir()) == [
        "audio_test", "audio_train", "synth_info.json", "test_post_competition.csv", "train_post_competition.csv"]
    train_cols, train = read_rows(small / "train_post_competition.csv")
    test_cols, test = read_rows(small / "test_post_competition.csv")
    assert train_cols == ["fname", "label", "manually_verified", "freesound_id", "license"]
    assert test_cols == ["fname", "label", "usage", "freesound_id", "license"]
    for rows, folder in ((train, "audio_train"), (test, "audio_test")):
        names = [r["fname"] for r in rows]
        assert all(FNAME.match(n) for n in names)
        assert sorted(p.name for p in (small / folder).iterdir()) == sorted(names)  # no missing or extra files
    all_names = [r["fname"] for r in train + test]
    assert len(set(all_names)) == len(all_names)
    ids = [int(r["freesound_id"]) for r in train + test]
    assert len(set(ids)) == len(ids)
    assert {r["manually_verified"] for r in train} == {"0", "1"}
    assert {r["usage"] for r in test} == {"Public", "Private", "Ignored"}
    assert all(r["label"] == "None" for r in test if r["usage"] == "Ignored")
    assert all(r["license"] for r in train + test)


def test_every_label_in_train_and_scored_test(small):
    _, train = read_rows(small / "train_post_competition.csv")
    _, test = read_rows(small / "test_post_competition.csv")
    assert {r["label"] for r in train} == set(LABELS)
    assert {r["label"] for r in test if r["usage"] != "Ignored"} == set(LABELS)


def test_wav_format_and_durations(small):
    for path in sorted((small / "audio_train").iterdir())[:40] + sorted((small / "audio_test").iterdir())[:20]:
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype, info.format) == (SAMPLE_RATE, 1, "PCM_16", "WAV")
        assert SMALL.min_duration - 1e-3 <= info.frames / SAMPLE_RATE <= SMALL.max_duration + 1e-3
        wave, _ = sf.read(str(path))
        assert np.abs(wave).max() > 0.01  # not silent


def test_loads_with_the_dataset_loader(small):
    from audiotag.data.datasets import load_dataset

    ds = load_dataset(small)
    info = read_info(small)
    assert len(ds.train) == info["counts"]["train"]
    assert len(ds.scored_test()) == info["counts"]["test_scored"]
    assert set(ds.train["label"]) == set(LABELS)


# ------------------------------------------------------------------------------------------------ statistics


def test_default_plan_is_fsd_like(default_plan):
    train = [s for s in default_plan if s.split == "train"]
    scored = [s for s in default_plan if s.split == "test" and s.usage != "Ignored"]
    ignored = [s for s in default_plan if s.usage == "Ignored"]
    assert 15 * 41 <= len(train) <= 25 * 41 and 6 * 41 <= len(scored) <= 10 * 41
    counts = np.array([sum(s.label == c for s in train) for c in LABELS])
    assert 2.0 <= counts.max() / counts.min() <= 4.5                    # unbalanced, like FSD's 94..300
    verified = np.mean([s.manually_verified for s in train])
    assert 0.37 <= verified <= 0.45
    unverified = [s for s in train if not s.manually_verified]
    wrong = np.mean([s.label != s.true_label for s in unverified])
    assert 0.10 <= wrong <= 0.15
    assert all(s.label == s.true_label for s in train if s.manually_verified)
    assert all(s.label == s.true_label for s in scored)                 # test labels are all correct
    public = np.mean([s.usage == "Public" for s in scored])
    assert 0.17 <= public <= 0.21
    assert 0 < len(ignored) <= 0.1 * len(scored)


def test_default_durations_are_short_and_skewed(default_plan):
    config = CorpusConfig()
    durations = np.array([clip_duration(np.random.default_rng([0, s.index]), config,
                                        SOUND_MODELS[s.true_label].duration_scale) for s in default_plan])
    assert durations.min() >= 0.3 and durations.max() <= 30.0
    assert 1.2 <= np.median(durations) <= 2.0
    assert durations.mean() > np.median(durations)                        # a long tail
    assert durations.sum() * SAMPLE_RATE * 2 < 300e6                      # under 300 MB of 16-bit audio


def test_info_records_mislabeled_clips(small):
    info = read_info(small)
    _, train = read_rows(small / "train_post_competition.csv")
    labels = {r["fname"]: r for r in train}
    assert info["seed"] == 7 and info["parameters"]["clips_per_class"] == 2
    for fname, true_label in info["mislabeled"].items():
        assert labels[fname]["manually_verified"] == "0" and labels[fname]["label"] != true_label
        assert true_label in LABELS


# ------------------------------------------------------------------------------------------------ determinism


def test_same_seed_same_bytes_whatever_the_workers(small, tmp_path):
    again = generate_corpus(tmp_path / "again", workers=1, **SMALL_ARGS)
    assert tree_bytes(again) == tree_bytes(small)


def test_different_seed_different_corpus(default_plan):
    other = plan_corpus(CorpusConfig(), seed=1)
    assert [s.fname for s in other] != [s.fname for s in default_plan]
    spec = default_plan[0]
    assert not np.array_equal(render_clip(spec, SMALL, 0), render_clip(spec, SMALL, 1))
    assert np.array_equal(render_clip(spec, SMALL, 0), render_clip(spec, SMALL, 0))


# ------------------------------------------------------------------------------------------------ idempotence


def test_second_call_returns_without_regenerating(small):
    stamps = {p: p.stat().st_mtime_ns for p in small.rglob("*") if p.is_file()}
    assert generate_corpus(small, workers=1, **SMALL_ARGS) == small
    assert {p: p.stat().st_mtime_ns for p in small.rglob("*") if p.is_file()} == stamps


def test_other_parameters_raise_unless_overwrite(small, tmp_path):
    with pytest.raises(SynthError, match="different parameters.*seed 7 -> 8"):
        generate_corpus(small, **{**SMALL_ARGS, "seed": 8})
    tiny = dict(SMALL_ARGS, clips_per_class=2, test_clips_per_class=1,
                config=replace(SMALL, duration_median=0.3, max_duration=0.4))
    target = generate_corpus(tmp_path / "tiny", workers=1, **tiny)
    first = tree_bytes(target)
    with pytest.raises(SynthError, match="clips_per_class 2 -> 3"):
        generate_corpus(target, workers=1, **dict(tiny, clips_per_class=3))
    generate_corpus(target, workers=1, overwrite=True, **dict(tiny, seed=9))
    assert read_info(target)["seed"] == 9
    old_clips = {name for name in first if name.endswith(".wav")}
    new_clips = {name for name in tree_bytes(target) if name.endswith(".wav")}
    assert new_clips and not old_clips & new_clips       # the old clips are gone, not mixed with the new


def test_interrupted_generation_resumes(small, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(small, partial)
    expected = tree_bytes(partial)
    info = read_info(partial)
    (partial / "synth_info.json").rename(partial / PROGRESS_MARKER)   # as if killed before the end
    (partial / "train_post_competition.csv").unlink()
    victim = sorted((partial / "audio_train").iterdir())[5]
    victim.unlink()
    generate_corpus(partial, workers=1, **SMALL_ARGS)
    assert tree_bytes(partial) == expected
    assert read_info(partial)["mislabeled"] == info["mislabeled"]


def test_refuses_to_touch_foreign_data(tmp_path):
    (tmp_path / "train_post_competition.csv").write_text("fname,label,manually_verified\n")
    with pytest.raises(SynthError, match="did not generate"):
        generate_corpus(tmp_path, overwrite=True, **SMALL_ARGS)
    assert (tmp_path / "train_post_competition.csv").read_text() == "fname,label,manually_verified\n"


# ------------------------------------------------------------------------------------------------ sound models


def test_every_class_has_a_model_that_renders_exact_lengths():
    assert set(SOUND_MODELS) == set(LABELS)
    for i, (label, model) in enumerate(SOUND_MODELS.items()):
        for duration in (0.3, 1.7):
            x = model.render(np.random.default_rng([3, i]), duration)
            assert x.shape == (dsp.n_samples(duration),), label
            assert np.isfinite(x).all() and np.abs(x).max() > 0, label
        other = model.render(np.random.default_rng([4, i]), 1.7)
        assert not np.allclose(other, model.render(np.random.default_rng([3, i]), 1.7)), label


def test_karplus_strong_string_sounds_at_its_pitch():
    f0 = 196.0
    n = SAMPLE_RATE
    t60 = 0.5
    x = dsp.karplus_strong(np.random.default_rng(0), [0.0], f0, n, sustain=10 ** (-3 / (t60 * f0)))
    head = x[: n // 4]
    autocorrelation = np.fft.irfft(np.abs(np.fft.rfft(head, 2 * len(head))) ** 2)
    lags = np.arange(60, 1000)                                             # 44 Hz .. 735 Hz
    period = lags[np.argmax(autocorrelation[lags])]
    assert abs(SAMPLE_RATE / period / f0 - 1) < 0.01
    assert np.abs(x[-2000:]).max() < 1e-3 * np.abs(x[:2000]).max()       # it dies away (T60 = 0.5 s)


def test_modal_synthesis_rings_at_inharmonic_partials():
    n = SAMPLE_RATE
    x = dsp.modal(np.random.default_rng(0), n, [500.0, 1378.0], [2.0, 2.0], [1.0, 1.0])
    spectrum = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    top = sorted(freqs[np.argsort(spectrum)[-2:]])
    assert np.allclose(top, [500.0, 1378.0], atol=2.0)
