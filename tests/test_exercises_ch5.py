"""Chapter 5's exercise solutions and page helpers (audiotag.book.exercises.ch5_ensemble) and its figures."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from matplotlib.figure import Figure

from audiotag.book import plots
from audiotag.book.exercises import ch5_ensemble as ch5
from audiotag.evaluation.scores import confused_pairs, confusion_matrix
from audiotag.evaluation.uncertainty import bootstrap_means, difference_table, score_intervals
from audiotag.training.prediction_sets import Predictions

CLASSES = tuple("abcdef")


def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.fixture
def scored():
    """240 scored test clips (40 public, 200 private) and two prediction sets, a good and a weak one."""
    rng = np.random.default_rng(0)
    n = 240
    labels = rng.integers(0, len(CLASSES), n)
    test = pd.DataFrame({"fname": [f"t{i}.wav" for i in range(n)], "label": [CLASSES[k] for k in labels],
                         "usage": ["Public"] * 40 + ["Private"] * 200})

    def probs(skill):
        logits = rng.normal(size=(n, len(CLASSES)))
        logits[np.arange(n), labels] += skill
        return softmax(logits)

    good = Predictions(test["fname"], probs(2.0), CLASSES, "good")
    weak = Predictions(test["fname"], probs(0.3), CLASSES, "weak")
    return test, good, weak, labels


# ------------------------------------------------------------------------------------------------- the toy
def test_toy_example_ranks_and_the_disagreement_on_clip_3():
    table = ch5.toy_combinations()
    ranks_a = table[("model A: normalised rank", "Bark")].to_numpy()
    ranks_b = table[("model B: normalised rank", "Bark")].to_numpy()
    np.testing.assert_allclose(ranks_a, [1.0, 0.0, 0.5])
    np.testing.assert_allclose(ranks_b, [1.0, 0.5, 0.0])
    np.testing.assert_allclose(table[("mean of normalised ranks", "Meow")].to_numpy(), [0.0, 0.75, 0.75])
    np.testing.assert_allclose(table[("mean of probabilities", "Bark")].to_numpy(), [0.725, 0.34, 0.525])
    assert list(table[("mean picks", "")]) == ["Bark", "Meow", "Bark"]
    assert list(table[("rank picks", "")]) == ["Bark", "Meow", "Meow"]


def test_toy_example_with_weights():
    # A counts three times as much: the mean follows A even more, but A ranks clip 3 in the middle for both classes
    # (0.5 and 0.5), so only B's ranks decide clip 3 under rank averaging.
    table = ch5.toy_combinations(weights=[3, 1])
    assert table.loc["clip 3", ("mean picks", "")] == "Bark"
    assert table.loc["clip 3", ("rank picks", "")] == "Meow"
    np.testing.assert_allclose(table.loc["clip 3", ("mean of normalised ranks", "Meow")], 0.625)
    # B alone: the mean follows B, but B ranks clip 2 in the middle for both classes, a tie (the first class wins):
    # ranks say where a clip stands among the other clips, not what the model thinks of it alone.
    only_b = ch5.toy_combinations(weights=[0, 1])
    assert list(only_b[("mean picks", "")]) == ["Bark", "Meow", "Meow"]
    assert list(only_b[("rank picks", "")]) == ["Bark", "Bark", "Meow"]
    np.testing.assert_allclose(only_b.loc["clip 2", "mean of normalised ranks"].to_numpy(dtype=float), [0.5, 0.5])
    with pytest.raises(ValueError):
        ch5.toy_combinations(weights=[1])


# ---------------------------------------------------------------------------------------- squared member
def test_squaring_a_member_leaves_rank_averaging_unchanged_but_moves_the_mean():
    rng = np.random.default_rng(1)
    members = [softmax(rng.normal(size=(60, 5)) * s) for s in (3.0, 0.5, 1.0)]
    result = ch5.power_invariance(members, member=0, power=2.0)
    assert result["clips"] == 60
    assert result["top label changed (rank averaging)"] == 0
    assert result["largest score change (rank averaging)"] == 0.0
    assert result["largest score change (mean)"] > 0.01
    # the sharpened confident member takes over some clips of the mean
    assert result["top label changed (mean)"] > 0
    equal = ch5.power_invariance(members, [1, 1, 1], 0, 2.0)      # equal weights given explicitly: the same
    assert result["top label changed (mean)"] == equal["top label changed (mean)"]
    with pytest.raises(ValueError):
        ch5.power_invariance(members, power=-1)


# ---------------------------------------------------------------------------------------------- widths
def test_public_interval_is_wider_by_about_the_square_root_of_the_size_ratio(scored):
    test, good, _, _ = scored
    table = ch5.subset_widths(good, test, n_boot=1000)
    assert list(table.index) == ["public", "private"]
    assert table.loc["public", "clips"] == 40 and table.loc["private", "clips"] == 200
    assert table.loc["public", "width"] > table.loc["private", "width"]
    assert table.loc["public", "sqrt(private clips / clips)"] == pytest.approx(np.sqrt(5))
    assert table.loc["public", "width / private width"] == pytest.approx(np.sqrt(5), rel=0.35)
    assert (table["low"] <= table["MAP@3"]).all() and (table["MAP@3"] <= table["high"]).all()


def test_four_times_the_clips_halve_the_interval():
    values = np.random.default_rng(2).choice([1, 1 / 2, 1 / 3, 0], size=300, p=[0.7, 0.1, 0.05, 0.15])
    table = ch5.width_by_size(values, factors=(1, 4), n_boot=1000)
    assert list(table["clips"]) == [300, 1200]
    assert table.loc[4, "sqrt(first factor / factor)"] == pytest.approx(0.5)
    assert table.loc[4, "width / first width"] == pytest.approx(0.5, abs=0.1)
    with pytest.raises(ValueError):
        ch5.width_by_size([])


# ------------------------------------------------------------------------------------------ OOF weights
def test_weights_chosen_on_oof_favour_the_better_run():
    rng = np.random.default_rng(4)
    n = 300
    labels = rng.integers(0, len(CLASSES), n)
    fnames = [f"tr{i}.wav" for i in range(n)]
    good_logits = rng.normal(size=(n, len(CLASSES)))
    good_logits[np.arange(n), labels] += 2.0
    noise = softmax(rng.normal(size=(n, len(CLASSES))))
    good = Predictions(fnames, softmax(good_logits), CLASSES, "good")
    useless = Predictions(fnames[::-1], noise[::-1], CLASSES, "useless")      # another order: aligned by fname
    truth = pd.Series([CLASSES[k] for k in labels], index=fnames)
    for method in ("rank", "mean"):
        table = ch5.oof_weight_search(good, useless, truth, method=method)
        assert table.index.name == "weight of good" and len(table) == 11 and 0.3 in table.index
        assert table["best"].sum() == 1
        best = table.index[table["best"]][0]
        assert best >= 0.7
        assert table.loc[1.0, "OOF MAP@3"] > table.loc[0.0, "OOF MAP@3"] + 0.3
    with pytest.raises(ValueError):
        ch5.oof_weight_search(good, useless, truth.iloc[:10])


# --------------------------------------------------------------------------------------- mistakes to hear
def test_mistake_examples_pick_a_mistaken_and_a_typical_clip():
    classes = ("Flute", "Clarinet", "Chime")
    test = pd.DataFrame({"fname": ["f1", "f2", "f3", "c1", "c2", "h1"],
                         "label": ["Flute", "Flute", "Flute", "Clarinet", "Clarinet", "Chime"],
                         "usage": ["Public", "Private", "Private", "Private", "Private", "Private"]})
    probs = np.array([[0.3, 0.6, 0.1],      # Flute taken for Clarinet, Flute second
                      [0.1, 0.5, 0.4],      # Flute taken for Clarinet, more confidently? no: 0.5 < 0.6
                      [0.8, 0.1, 0.1],      # right
                      [0.1, 0.7, 0.2],      # Clarinet, right
                      [0.05, 0.9, 0.05],    # Clarinet, right and the most confident: the typical one
                      [0.2, 0.1, 0.7]])     # Chime, right
    pred = Predictions(test["fname"], probs, classes, "ens")
    pairs = confused_pairs(confusion_matrix(pred, test), top=5)
    table = ch5.mistake_examples(pred, test, pairs)
    assert len(table) == 1
    row = table.iloc[0]
    assert (row["true"], row["predicted"], row["count"]) == ("Flute", "Clarinet", 2)
    assert row["mistaken"] == "f1" and row["typical"] == "c2"
    assert row["rank of true"] == 2 and row["score of predicted"] == pytest.approx(0.6)
    sentence = ch5.mistake_sentence(row)
    assert "Flute → Clarinet: 2 test clips" in sentence and "came second" in sentence and "earns 1/2" in sentence
    # no Clarinet clip predicted right: no typical one (None, not NaN)
    wrong = probs.copy()
    wrong[3:5] = [[0.1, 0.2, 0.7], [0.1, 0.3, 0.6]]
    pred = Predictions(test["fname"], wrong, classes, "ens")
    table = ch5.mistake_examples(pred, test, confused_pairs(confusion_matrix(pred, test), top=5))
    row_fc = [r for r in table.to_dict("records") if r["predicted"] == "Clarinet"][0]
    assert row_fc["typical"] is None and "no typical one" in ch5.mistake_sentence(row_fc)
    # a clip whose true class is out of the top 3 would earn 0
    assert "came 4th, outside the top 3" in ch5.mistake_sentence({**row.to_dict(), "rank of true": 4, "typical": None})
    assert [ch5._ordinal(n) for n in (11, 12, 13, 21, 22, 23, 41)] == ["11th", "12th", "13th", "21st", "22nd", "23rd",
                                                                       "41st"]


def test_listen_clip_keeps_the_own_rate_and_cuts_long_clips(tmp_path):
    rate = 22050
    t = np.arange(10 * rate) / rate
    wave = 0.01 * np.sin(2 * np.pi * 440 * t)
    wave[6 * rate:7 * rate] *= 50            # the loud second
    sf.write(tmp_path / "long.wav", wave, rate)
    cut, r = ch5.listen_clip(tmp_path / "long.wav", max_seconds=2.0)
    assert r == rate and len(cut) == 2 * rate
    assert np.abs(cut).max() > 0.4           # the loud part is inside
    sf.write(tmp_path / "short.wav", wave[: rate // 2], rate)
    short, _ = ch5.listen_clip(tmp_path / "short.wav", max_seconds=2.0)
    assert len(short) == rate // 2
    feature, hop = ch5.clip_logmel(cut, r, n_mels=32)
    assert feature.shape[0] == 32 and hop == 256 and np.isfinite(feature).all()   # n_fft 1024 at 22.05 kHz


# -------------------------------------------------------------------------------- differences and spread
def test_differences_sentence_says_which_are_real(scored):
    test, good, weak, _ = scored
    same = Predictions(good.fnames, good.probs, CLASSES, "same")
    table = difference_table({"good": good, "weak": weak, "same": same}, test,
                             pairs=[("good", "weak"), ("good", "same")], n_boot=500)
    sentence = ch5.differences_sentence(table)
    real, noise = sentence.split("Within the test set's noise")
    assert "good − weak" in real and "good − same" in noise
    assert "on these 240 clips" in sentence


def test_build_spread_and_its_sentence():
    bf16 = {"test_map3": {"classic": {"whole": 0.58}, "conv1d": {"whole": 0.747}, "rank_ensemble": {"whole": 0.838}}}
    fp32 = {"test_map3": {"classic": {"whole": 0.58}, "conv1d": {"whole": 0.726}, "rank_ensemble": {"whole": 0.824}}}
    table = ch5.build_spread({"bf16": bf16, "fp32": fp32})
    assert list(table.columns) == ["bf16", "fp32", "spread"]
    assert table["spread"].round(3).tolist() == [0.0, 0.021, 0.014]
    names = list(table.index)
    widths = pd.Series([0.1, 0.084, 0.08], index=names)
    sentence = ch5.spread_sentence(table, widths)
    assert "0.021" in sentence and names[1] in sentence and "did not move" in sentence
    assert "25% of its width" in sentence and "50% of its half width" in sentence


# ------------------------------------------------------------------------------------------------ figures
def test_interval_figures(scored):
    test, good, weak, _ = scored
    intervals = score_intervals({"good": good, "weak": weak}, test, n_boot=300)
    fig = plots.system_intervals(intervals, reference="weak", others={"other build": {"good": 0.7}})
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["weak", "good"]      # best at the top
    draws = bootstrap_means(np.random.default_rng(0).random(100), n_boot=300)
    fig = plots.bootstrap_histogram(draws, 0.5, 0.44, 0.56, se=0.03)
    assert len(fig.axes[0].patches) >= 40
    image = np.zeros((16, 20))
    fig = plots.clip_images({"true: a, predicted: b": (image, 256, 22050), "a typical b": (image, 256, 22050)})
    assert [a.get_title() for a in fig.axes[:2]] == ["true: a, predicted: b", "a typical b"]
