"""Chapter 6's exercise solutions and page helpers (audiotag.book.exercises.ch6_inside) and its figure."""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure
from torch import nn

from audiotag.book import plots
from audiotag.book.exercises import ch6_inside as ch6
from audiotag.evaluation import label_noise as ln
from audiotag.evaluation.filters import kernel_responses
from audiotag.training.prediction_sets import Predictions

SR = 16000
CLASSES = ("a", "b", "c", "d")


# ------------------------------------------------------------------------------------------------ the clock
def test_part_clock_adds_up_each_part():
    ticks = itertools.count()
    clock = ch6.PartClock(clock=lambda: float(next(ticks)))   # each reading one second later
    clock.part("one")            # reads 0
    clock.part("two")            # reads 1, 2
    clock.part("one")            # reads 3, 4: "one" comes back and adds up
    table = clock.table()        # reads 5
    assert table.loc["one", "seconds"] == 2 and table.loc["two", "seconds"] == 1
    assert table.loc["whole chapter", "seconds"] == 3 and table.index.name == "part"


# ------------------------------------------------------------------------------------------ the first layer
def _stem(kernels: np.ndarray) -> nn.Module:
    conv = nn.Conv1d(1, len(kernels), kernels.shape[1], stride=4)
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(kernels, dtype=torch.float32)[:, None, :])
    return nn.Sequential(conv)


def test_kernel_changes_see_a_moved_peak_and_an_unchanged_kernel():
    before = np.stack([ch6.cosine_kernel(f, SR) for f in (500.0, 2000.0, 3000.0)])
    after = before.copy()
    after[1] = ch6.cosine_kernel(4000.0, SR)          # kernel 1 retuned from 2 kHz to 4 kHz
    after[2] *= 2.0                                   # kernel 2 only louder
    changes = ch6.kernel_changes(_stem(before), _stem(after), SR)
    assert np.allclose(changes["peak shift (Hz)"], [0, 2000, 0], atol=SR / 1024)
    assert changes["similarity"].iloc[0] == pytest.approx(1.0) and changes["similarity"].iloc[2] == pytest.approx(1)
    assert abs(changes["similarity"].iloc[1]) < 0.1
    assert changes["norm ratio"].iloc[2] == pytest.approx(2.0)
    summary = ch6.drift_summary(changes, SR / 80)
    assert summary["kernels"] == 3 and summary["peak moved by more than 200 Hz"] == 1
    assert summary["median similarity to the initial taps"] == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------ the known kernel
def test_the_formula_is_the_fft_and_a_cosine_kernel_peaks_at_its_frequency():
    kernel = ch6.cosine_kernel(1000.0, SR)
    bins = np.fft.rfftfreq(1024, 1 / SR)
    assert np.allclose(ch6.response_at(kernel, bins, SR), np.abs(np.fft.rfft(kernel, 1024)))
    table = ch6.cosine_kernel_table(1000.0, SR)
    assert abs(table.attrs["peak_hz"] - 1000.0) <= SR / 1024
    assert table.loc[1000.0, "formula (dB)"] == pytest.approx(0.0, abs=0.05)
    assert table.loc[2000.0, "formula (dB)"] < -30 and table.loc[500.0, "formula (dB)"] < -30   # an octave away
    exact = [f for f in table.index if f * 1024 / SR == round(f * 1024 / SR)]      # frequencies on an FFT bin
    assert {500.0, 1000.0, 2000.0} <= set(exact)
    assert np.allclose(table.loc[exact, "formula (dB)"], table.loc[exact, "FFT, nearest bin (dB)"], atol=1e-6)
    # a Hann window widens the main lobe to about 2 * f_s / taps; its -3 dB width is well below that
    assert SR / 80 < table.attrs["bandwidth_hz"] < 2 * SR / 80


# ------------------------------------------------------------------------------------------------ Grad-CAM
def test_choose_cam_layer_prefers_the_last_block_with_enough_cells():
    grids = pd.DataFrame({"layer": ["conv1", "pool2", "mixed0", "mixed1", "mixed2", "mixed3", "mixed6"],
                          "size (forward pass)": [47, 9, 9, 9, 9, 4, 4]})
    assert ch6.choose_cam_layer(grids, min_cells=8) == "features.mixed2"
    assert ch6.choose_cam_layer(grids, min_cells=4) == "features.mixed6"
    assert ch6.choose_cam_layer(grids, min_cells=20) == "features.mixed2"          # none: the finest grid
    paper = grids.assign(**{"size (forward pass)": [149, 35, 35, 35, 35, 17, 17]})
    assert ch6.choose_cam_layer(paper, min_cells=8) == "features.mixed6"


def test_pick_cam_clips_takes_confident_right_and_wrong_clips_of_distinct_classes():
    test = pd.DataFrame({"fname": [f"t{i}" for i in range(6)], "label": ["a", "a", "b", "c", "c", "d"]})
    probs = np.array([[0.9, 0.1, 0, 0], [0.95, 0.05, 0, 0], [0.2, 0.7, 0.1, 0],     # right, right, right
                      [0.8, 0.1, 0.1, 0], [0.1, 0.6, 0.3, 0], [0.1, 0.1, 0.1, 0.7]])  # wrong, wrong, right
    pred = Predictions(test["fname"][::-1].to_numpy(), probs[::-1], CLASSES, "p")
    picked = ch6.pick_cam_clips(pred, test, n_right=2, n_wrong=5)
    assert list(picked["fname"]) == ["t1", "t2", "t3"]     # t0 is a second "a"; t2 and t5 tie: by name; t4 a second c
    assert list(picked["right"]) == [True, True, False] and picked.loc[2, "predicted"] == "a"
    assert picked.loc[2, "p true"] == pytest.approx(0.1) and picked.loc[2, "p predicted"] == pytest.approx(0.8)


# ---------------------------------------------------------------------------------------------- embeddings
def test_stratified_subset_keeps_at_most_n_per_class_in_order():
    table = pd.DataFrame({"fname": [f"f{i}" for i in range(10)], "label": list("aaaaabbbcc")}, index=range(10, 20))
    sub = ch6.stratified_subset(table, 2, seed=1)
    assert sub["label"].value_counts().to_dict() == {"a": 2, "b": 2, "c": 2}
    assert list(sub.index) == sorted(sub.index)
    assert sub.equals(ch6.stratified_subset(table, 2, seed=1)) and ch6.stratified_subset(table, None) is table
    with pytest.raises(ValueError):
        ch6.stratified_subset(table, 0)


def test_pair_examples_find_the_clip_that_sits_among_the_other_class():
    # class a at x = 0..4, class b at x = 10..14, and one a (a_far) inside b's group; c far away
    xs = [0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 12.5, 100, 101]
    labels = ["a"] * 5 + ["b"] * 5 + ["a", "c", "c"]
    names = [f"a{i}" for i in range(5)] + [f"b{i}" for i in range(5)] + ["a_far", "c0", "c1"]
    vectors = np.column_stack([xs, np.zeros(len(xs))])
    pairs = pd.DataFrame({"class_a": ["a"], "class_b": ["b"], "overlap": [0.2]})
    ex = ch6.pair_examples(vectors, labels, names, pairs, k=2)
    row = ex.iloc[0]
    assert row["clip_a"] == "a_far" and row["neighbours_a"] == 2
    assert row["clip_b"] in {"b2", "b3"} and row["neighbours_b"] == 1


def test_clip_profile_and_pair_sentence():
    t = np.arange(SR) / SR
    tone = np.sin(2 * np.pi * 440 * t)
    bursts = tone * (np.sin(2 * np.pi * 2 * t) > 0.9)      # the same tone, on about 14% of the time
    high = np.sin(2 * np.pi * 4000 * t)
    p_tone, p_bursts, p_high = (ch6.clip_profile(w, SR) for w in (tone, bursts, high))
    assert abs(p_tone["peak (Hz)"] - 440) < 25 and p_tone["sounding"] == pytest.approx(1.0)
    assert p_bursts["sounding"] < 0.4 and abs(p_high["centroid (Hz)"] - 4000) < 300
    same = ch6.pair_sentence("Flute", p_tone, "Clarinet", p_tone)
    assert "They share the main frequency and the brightness and the rhythm" in same
    assert "These summaries differ" in ch6.pair_sentence("Flute", p_bursts, "Bus", p_high)


# ----------------------------------------------------------------------------------------------- wrong labels
def _oof_and_train(n=40, seed=0):
    """n clips, half verified; the predictions favour each clip's label except on the 'wrong' clips (every 5th
    unverified one), which the model gives almost nothing."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    verified = np.arange(n) % 2 == 0
    wrong = [f"c{i}" for i in range(n) if not verified[i] and i % 5 == 1]
    probs = rng.dirichlet(np.ones(4), n) * 0.5
    for i in range(n):
        probs[i, labels[i]] += 0.5 + 0.4 * rng.random()
    probs /= probs.sum(axis=1, keepdims=True)
    for i in range(n):
        if f"c{i}" in wrong:
            probs[i, labels[i]] = 0.001
    train = pd.DataFrame({"fname": [f"c{i}" for i in range(n)], "label": [CLASSES[k] for k in labels],
                          "manually_verified": verified})
    return Predictions(train["fname"], probs, CLASSES, "oof"), train, wrong


def test_precision_recall_by_hand_is_what_detection_scores_says():
    oof, train, wrong = _oof_and_train()
    table = ln.suspicion_table(oof, train)
    scores = ln.detection_scores(table, wrong, ks=range(1, len(table) + 1)).set_index("k")
    for k in (1, 3, 4, 10, len(table)):
        by_hand = ch6.precision_recall_at_k(table["fname"], wrong, k)
        assert by_hand["found"] == scores.loc[k, "found"]
        assert by_hand["precision"] == pytest.approx(scores.loc[k, "precision"])
        assert by_hand["recall"] == pytest.approx(scores.loc[k, "recall"])
        assert by_hand["chance precision"] == pytest.approx(scores.loc[k, "chance precision"])
    assert ch6.precision_recall_at_k(table["fname"], wrong, len(wrong))["precision"] == 1.0   # they all come first
    with pytest.raises(ValueError):
        ch6.precision_recall_at_k(table["fname"], wrong, 0)


def test_verified_clips_never_reach_the_unverified_ranking():
    oof, train, _ = _oof_and_train()
    counts = ch6.verified_in_top(oof, train, k=10)
    assert counts.loc["unverified clips ranked", "verified among them"] == 0
    assert counts.loc["every clip ranked", "top k"] == 10
    everyone = ln.suspicion_table(oof, train, unverified_only=False).head(10)
    assert counts.loc["every clip ranked", "verified among them"] == int(everyone["manually_verified"].sum())


def test_verified_threshold_flags_the_given_share_of_verified_clips():
    oof, train, wrong = _oof_and_train(n=200)
    threshold, verified = ch6.verified_threshold(oof, train, rate=0.1)
    assert len(verified) == 100 and verified["manually_verified"].all()
    assert (verified["p_label"] <= threshold).mean() == pytest.approx(0.1, abs=0.02)
    flagged = ln.suspicion_table(oof, train).query("p_label <= @threshold")["fname"]
    assert set(wrong) <= set(flagged)          # the wrong labels got almost nothing: all below it
    with pytest.raises(ValueError):
        ch6.verified_threshold(oof, train, rate=1.0)


# -------------------------------------------------------------------------------------------- t-SNE seeds
def test_overlap_stability_compares_maps_with_the_embedding():
    rng = np.random.default_rng(0)
    centres = {"a": 0.0, "b": 0.5, "c": 8.0, "d": 16.0}      # a and b overlap; c and d stand apart
    labels = [c for c in centres for _ in range(12)]
    vectors = np.stack([rng.normal(centres[c], 1.0, size=6) for c in labels])
    table = ch6.overlap_stability(vectors, labels, seeds=(0, 1), k=5, top=1)
    assert table.attrs["embedding pairs"] == ["a / b"]
    assert list(table["shared with the embedding's"]) == [1, 1]
    assert table.loc["seed 0", "largest move of a point"] == pytest.approx(0.0, abs=1e-9)
    assert table.loc["seed 1", "median move of a point"] <= table.loc["seed 1", "largest move of a point"]
    again = ch6.overlap_stability(vectors, labels, seeds=(0,), k=5, top=1,
                                  maps={0: np.column_stack([np.arange(48.0), np.zeros(48)])})
    assert again.loc["seed 0", "pairs in the map"] == "a / b"     # a given map is used as it is


def test_moves_ignore_rotation_and_scale():
    xy = np.random.default_rng(0).normal(size=(200, 2))
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])
    assert ch6._moves(xy, 3 * xy @ turn + 5) == pytest.approx((0.0, 0.0), abs=1e-9)
    moved = xy.copy()
    moved[0] += 10
    median, largest = ch6._moves(xy, moved)
    assert largest > 1 and median < largest / 5


# ------------------------------------------------------------------------------------------------ the figure
def test_detection_curves_draw_each_ranking_and_the_chance_line():
    oof, train, wrong = _oof_and_train()
    table = ln.suspicion_table(oof, train)
    scores = ln.detection_scores(table, wrong, ks=range(1, len(table) + 1))
    fig = plots.detection_curves({"networks": scores, "floor": scores}, marks={"flagged": 5})
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels[:3] == ["networks", "floor", "chance (k random clips)"]
    assert np.allclose(fig.axes[1].lines[0].get_ydata(), scores["recall"])
    with pytest.raises(ValueError):
        plots.detection_curves({})


def test_a_kernel_response_helper_agrees_with_the_package():
    kernels = np.stack([ch6.cosine_kernel(f, SR) for f in (700.0, 2500.0)])
    assert np.allclose(ch6.first_layer_kernels(_stem(kernels)), kernels, atol=1e-6)
    r = kernel_responses(kernels, SR)
    assert np.all(np.abs(r.peak_hz - [700, 2500]) <= SR / 1024)
