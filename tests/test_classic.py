"""The classical floor: MFCC statistics + logistic regression on a small synthetic corpus."""
from __future__ import annotations

import numpy as np
import pytest

from audiotag.evaluation.classic import classic_baseline, mfcc_statistics
from audiotag.data.labels import LABELS, SAMPLE_RATE
from audiotag.data.synth import CorpusConfig, generate_corpus

#: Chance MAP@3 with 41 classes: (1 + 1/2 + 1/3) / 41.
CHANCE_MAP3 = (1 + 1 / 2 + 1 / 3) / 41


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    # Half the default training size and shorter clips keep this quick; the default corpus scores higher.
    config = CorpusConfig(duration_median=0.8, max_duration=4.0)
    return generate_corpus(tmp_path_factory.mktemp("classic") / "corpus", clips_per_class=10, test_clips_per_class=5,
                           seed=3, progress=False, workers=2, config=config)


def test_mfcc_statistics_summarise_a_clip_in_a_fixed_vector():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    noise = np.random.default_rng(0).normal(0, 0.1, SAMPLE_RATE)
    glide = 0.5 * np.sin(2 * np.pi * (200 * t + 1500 * t ** 2))
    stats = {name: mfcc_statistics(x, SAMPLE_RATE) for name, x in
             [("tone", tone), ("noise", noise), ("glide", glide), ("silence", np.zeros(SAMPLE_RATE)),
              ("blip", tone[:100])]}
    for name, v in stats.items():
        assert v.shape == (80,) and np.isfinite(v).all(), name
    n = 20
    assert not np.allclose(stats["tone"][:n], stats["noise"][:n], atol=1.0)          # different colour
    # a steady tone varies less over time than a glide, in the MFCCs and in their deltas
    assert stats["tone"][n:2 * n].mean() < stats["glide"][n:2 * n].mean()
    assert stats["tone"][3 * n:].mean() < stats["glide"][3 * n:].mean()
    assert mfcc_statistics(tone, SAMPLE_RATE, n_mfcc=40).shape == (160,)


def test_mfcc_statistics_are_librosas_mfccs_and_deltas():
    import librosa

    wave = np.random.default_rng(1).normal(0, 0.1, SAMPLE_RATE // 2).astype(np.float32)
    coefs = librosa.feature.mfcc(y=wave, sr=SAMPLE_RATE, n_mfcc=20, n_fft=2048, hop_length=512, n_mels=64)
    delta = librosa.feature.delta(coefs, width=9)
    expected = np.concatenate([coefs.mean(1), coefs.std(1), delta.mean(1), delta.std(1)])
    np.testing.assert_allclose(mfcc_statistics(wave, SAMPLE_RATE), expected, rtol=1e-4, atol=1e-3)


def test_baseline_is_well_above_chance_and_well_below_perfect(corpus):
    result = classic_baseline(corpus, workers=2)
    assert result["n_test"] == len(result["targets"]) and result["n_train"] > 300
    probs = result["probabilities"]
    assert probs.shape == (result["n_test"], len(LABELS))
    assert np.allclose(probs.sum(axis=1), 1.0)
    # the floor the CNNs must beat: far above chance (~0.045), far from solved
    assert 0.35 <= result["map3"] <= 0.80
    assert result["map3"] > 5 * CHANCE_MAP3
    assert result["accuracy"] <= result["map3"]
    table = result["per_class"]
    assert list(table.index) == list(LABELS)
    assert table["count(whole)"].sum() == result["n_test"]
    assert table["count(public)"].sum() + table["count(private)"].sum() == result["n_test"]
    assert result["confusions"]["count"].sum() == round((1 - result["accuracy"]) * result["n_test"])

