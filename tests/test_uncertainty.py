"""Bootstrap intervals of test scores and paired intervals of their differences (audiotag.evaluation.uncertainty)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audiotag.evaluation.scores import EvaluationError, score_table
from audiotag.evaluation.uncertainty import (NOISE, REAL, Interval, bootstrap_indices, bootstrap_interval,
                                             difference_table, paired_difference, per_clip_map3, score_intervals)
from audiotag.training.metrics import map3
from audiotag.training.prediction_sets import Predictions

CLASSES = tuple("abcdefgh")


def ap_values(n: int, seed: int = 0, p=(0.7, 0.1, 0.05, 0.15)) -> np.ndarray:
    """Per-clip AP@3 values (1, 1/2, 1/3, 0) with the given probabilities: MAP@3 near 0.78."""
    return np.random.default_rng(seed).choice([1, 1 / 2, 1 / 3, 0], size=n, p=p)


@pytest.fixture
def systems():
    """A test table of 120 scored clips (40 public) plus ignored ones, and three prediction sets: a good one, a
    weak one and a copy of the good one with a few clips made worse (correlated with it)."""
    rng = np.random.default_rng(3)
    n = 150
    labels = rng.integers(0, len(CLASSES), n)
    usage = np.array(["Public"] * 40 + ["Private"] * 80 + ["Ignored"] * 30)
    test = pd.DataFrame({"fname": [f"c{i}.wav" for i in range(n)],
                         "label": [CLASSES[k] if u != "Ignored" else None for k, u in zip(labels, usage)],
                         "usage": usage})

    def probs(skill):
        logits = rng.normal(size=(n, len(CLASSES)))
        logits[np.arange(n), labels] += skill
        e = np.exp(logits)
        return e / e.sum(axis=1, keepdims=True)

    good, weak = probs(2.5), probs(0.3)
    worse = good.copy()
    worse[:10] = np.roll(worse[:10], 1, axis=1)       # ten clips ranked differently
    preds = {name: Predictions(test["fname"], p, CLASSES, name)
             for name, p in (("good", good), ("weak", weak), ("good, 10 clips changed", worse))}
    return test, preds


def test_per_clip_map3_means_to_map3():
    rng = np.random.default_rng(0)
    probs = rng.random((200, 8))
    targets = rng.integers(0, 8, 200)
    values = per_clip_map3(probs, targets)
    assert set(np.unique(values)) <= {0, 1 / 3, 1 / 2, 1}
    assert values.mean() == pytest.approx(map3(probs, targets))


def test_interval_contains_the_estimate_and_prints_readably():
    values = ap_values(327)
    ci = bootstrap_interval(values)
    assert isinstance(ci, Interval) and ci.n == 327 and ci.level == 0.95
    assert ci.estimate == pytest.approx(values.mean())
    assert ci.low < ci.estimate < ci.high
    # Standard error of a mean of 327 clips: sd / sqrt(n); the bootstrap's agrees within a few percent.
    assert ci.se == pytest.approx(values.std() / np.sqrt(327), rel=0.1)
    assert str(ci) == f"{ci.estimate:.3f} ({ci.low:.3f} to {ci.high:.3f})"
    assert bootstrap_interval(values, level=0.5).width < ci.width


def test_width_shrinks_as_one_over_sqrt_n():
    values = ap_values(200, seed=1)
    narrow = bootstrap_interval(np.tile(values, 4))      # the same clips four times: same mean, 4x n
    wide = bootstrap_interval(values)
    assert narrow.estimate == pytest.approx(wide.estimate)
    assert narrow.width / wide.width == pytest.approx(0.5, abs=0.06)


def test_deterministic_for_a_seed_different_for_another():
    values = ap_values(150, seed=2)
    assert bootstrap_interval(values, seed=7) == bootstrap_interval(values, seed=7)
    seven, eight = bootstrap_interval(values, seed=7), bootstrap_interval(values, seed=8)
    assert (seven.low, seven.high) != (eight.low, eight.high) and seven.estimate == eight.estimate
    # The index matrix itself: n_boot rows of n clip indices, the same for the same seed.
    first = np.concatenate(list(bootstrap_indices(50, 30, seed=1)))
    assert first.shape == (30, 50) and first.min() >= 0 and first.max() < 50
    assert (first == np.concatenate(list(bootstrap_indices(50, 30, seed=1)))).all()
    assert (first != np.concatenate(list(bootstrap_indices(50, 30, seed=2)))).any()


def test_draws_come_in_chunks_of_bounded_memory(monkeypatch):
    from audiotag.evaluation import uncertainty

    values = ap_values(100, seed=3)
    whole = bootstrap_interval(values, n_boot=1000)
    monkeypatch.setattr(uncertainty, "CHUNK_ELEMENTS", 1000)          # 10 draws of 100 clips at a time
    chunks = list(bootstrap_indices(100, 55))
    assert [len(c) for c in chunks] == [10] * 5 + [5]
    chunked = bootstrap_interval(values, n_boot=1000)
    assert chunked.low == pytest.approx(whole.low, abs=0.02) and chunked.high == pytest.approx(whole.high, abs=0.02)


def test_paired_difference_of_identical_systems_is_exactly_zero():
    values = ap_values(100)
    d = paired_difference(values, values)
    assert (d.estimate, d.low, d.high, d.width) == (0.0, 0.0, 0.0, 0.0)
    assert not d.excludes_zero and d.verdict == NOISE


def test_paired_interval_is_narrower_than_unpaired_for_correlated_systems():
    a = ap_values(327, seed=4)
    b = a.copy()
    b[:20] = 0.0                          # b misses 20 clips a got; otherwise the same clips, the same difficulty
    paired = paired_difference(a, b)
    ia, ib = bootstrap_interval(a), bootstrap_interval(b)
    unpaired_se = np.hypot(ia.se, ib.se)  # what two separate intervals imply for the difference
    assert paired.se < 0.6 * unpaired_se
    assert paired.excludes_zero           # real when paired ...
    assert ia.low < ib.high               # ... although the two separate intervals overlap


def test_large_difference_excludes_zero_tiny_one_does_not():
    a = ap_values(300, seed=5)
    far = paired_difference(a, ap_values(300, seed=6, p=(0.3, 0.1, 0.1, 0.5)))
    assert far.excludes_zero and far.verdict == REAL and far.low > 0.2
    b = a.copy()
    b[np.flatnonzero(a == 1)[:2]] = 0.5   # two clips moved from rank 1 to rank 2: noise
    b[np.flatnonzero(a == 0.5)[:1]] = 1.0  # and one the other way
    tiny = paired_difference(a, b)
    assert not tiny.excludes_zero and tiny.verdict == NOISE and tiny.low < tiny.estimate < tiny.high


def test_coverage_of_a_known_mean():
    # Bernoulli clips of known mean 0.7: the 95% interval covers 0.7 in roughly 95% of repeated test sets.
    rng = np.random.default_rng(11)
    covered = 0
    for i in range(200):
        ci = bootstrap_interval((rng.random(100) < 0.7).astype(float), n_boot=400, seed=i)
        covered += ci.low <= 0.7 <= ci.high
    assert 0.88 <= covered / 200 <= 0.99


def test_score_intervals_agree_with_score_table(systems):
    test, preds = systems
    table = score_intervals(preds, test, n_boot=500)
    scores = score_table(preds, test)
    assert list(table.columns) == ["MAP@3", "low", "high", "clips"] and table.index.name == "system"
    assert list(table.index) == list(preds)
    np.testing.assert_allclose(table["MAP@3"], scores.loc[table.index, "map3_whole"])
    assert (table["clips"] == 120).all()
    assert ((table["low"] <= table["MAP@3"]) & (table["MAP@3"] <= table["high"])).all()
    public = score_intervals(preds, test, subset="public", n_boot=500)
    assert (public["clips"] == 40).all()
    np.testing.assert_allclose(public["MAP@3"], scores.loc[public.index, "map3_public"])
    assert (public["high"] - public["low"] > table["high"] - table["low"]).all()   # fewer clips, wider
    # The same clip resampling for every system: a system's interval does not depend on its companions.
    alone = score_intervals({"weak": preds["weak"]}, test, n_boot=500)
    pd.testing.assert_series_equal(alone.loc["weak"], table.loc["weak"])
    single = score_intervals(preds["good"], test, n_boot=500)
    assert list(single.index) == ["good"]


def test_difference_table_pairs_and_verdicts(systems):
    test, preds = systems
    pairs = [("good", "weak"), ("good", "good, 10 clips changed"), ("good", "good")]
    table = difference_table(preds, test, pairs, n_boot=500)
    assert list(table.index) == ["good − weak", "good − good, 10 clips changed", "good − good"]
    assert list(table.columns) == ["difference", "low", "high", "real here?"]
    scores = score_intervals(preds, test, n_boot=500)
    assert table.loc["good − weak", "difference"] == pytest.approx(scores.loc["good", "MAP@3"]
                                                                    - scores.loc["weak", "MAP@3"])
    assert table.loc["good − weak", "real here?"] == REAL
    assert tuple(table.loc["good − good", ["difference", "low", "high"]]) == (0.0, 0.0, 0.0)
    assert table.loc["good − good", "real here?"] == NOISE
    assert table.attrs["clips"] == 120


def test_bad_input_is_refused_with_a_clear_message(systems):
    with pytest.raises(ValueError, match="empty set of clips"):
        bootstrap_interval([])
    with pytest.raises(ValueError, match="same clips: 3 values vs 4"):
        paired_difference([1, 0, 1], [1, 0, 1, 1])
    for level in (0, 1, 95):
        with pytest.raises(ValueError, match="level must lie strictly between 0 and 1"):
            bootstrap_interval([1.0, 0.0], level=level)
    with pytest.raises(ValueError, match="n_boot must be a positive"):
        bootstrap_interval([1.0, 0.0], n_boot=0)
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_interval([1.0, np.nan])
    with pytest.raises(ValueError, match="one value per clip"):
        bootstrap_interval(np.ones((3, 2)))
    test, preds = systems
    with pytest.raises(ValueError, match="subset must be one of"):
        score_intervals(preds, test, subset="leaderboard")
    with pytest.raises(ValueError, match="no prediction sets"):
        score_intervals({}, test)
    with pytest.raises(EvaluationError, match="no scored clips in subset 'public'"):
        score_intervals(preds, test.assign(usage=np.where(test["usage"] == "Public", "Private", test["usage"])),
                        subset="public")
    with pytest.raises(ValueError, match=r"unknown system\(s\) \['best'\]"):
        difference_table(preds, test, [("best", "weak")])
    with pytest.raises(ValueError, match="no pairs"):
        difference_table(preds, test, [])
