"""The book's figures draw exactly the data they are given (tiny arrays; no pyplot, no display)."""
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba

from audiotag.book import plots


def _bars(ax):
    return [p for p in ax.patches if p.get_width() > 0 or p.get_height() > 0]


def test_figure_png_is_a_png():
    fig = plots.waveform(np.sin(np.linspace(0, 20, 800)), 800)
    assert plots.figure_png(fig)[:8] == b"\x89PNG\r\n\x1a\n"


def test_waveform_time_axis_in_seconds():
    wave = np.linspace(-1, 1, 4000, dtype=np.float32)
    fig = plots.waveform(wave, 2000, title="ramp")
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_xdata()[[0, -1]], [0.0, 3999 / 2000])
    np.testing.assert_array_equal(line.get_ydata(), wave)
    assert fig.axes[0].get_title() == "ramp"


def test_feature_image_draws_the_array_lowest_row_at_the_bottom():
    x = np.arange(6 * 10, dtype=np.float32).reshape(1, 6, 10)
    fig = plots.feature_image(x, "logmel", hop_length=512, sample_rate=44100)
    image = fig.axes[0].images[0]
    np.testing.assert_array_equal(image.get_array(), x[0])
    assert image.origin == "lower"
    left, right, _, _ = image.get_extent()
    assert (left, right) == pytest.approx((0.0, 10 * 512 / 44100))
    assert fig.axes[0].get_ylabel() == "mel band"
    with pytest.raises(ValueError, match="feature_image"):
        plots.feature_image(np.zeros(5))


def test_feature_panel_one_panel_per_feature_titled_with_its_shape():
    feats = {"mfcc": np.zeros((1, 40, 7)), "logmel": np.zeros((1, 128, 7)), "multires": np.zeros((3, 128, 7))}
    fig = plots.feature_panel(feats)
    assert len(fig.axes) == 3
    assert [ax.images[0].get_array().shape for ax in fig.axes] == [(40, 7), (128, 7), (128, 7)]
    assert "3 x 128 x 7" in fig.axes[2].get_title()
    assert fig.axes[1].get_title().startswith("log-mel spectrogram")


def test_multires_panel_labels_each_window():
    x = np.random.default_rng(0).normal(size=(3, 16, 9))
    fig = plots.multires_panel(x, (2048, 8192, 16384), 44100)
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["window 2048 samples (46 ms)", "window 8192 samples (186 ms)",
                      "window 16384 samples (372 ms)"]
    for i, ax in enumerate(a for a in fig.axes if a.images):
        np.testing.assert_allclose(ax.images[0].get_array(), x[i], rtol=1e-6)   # drawn as float32
    with pytest.raises(ValueError, match="windows"):
        plots.multires_panel(x[:2], (2048, 8192, 16384), 44100)


def test_network_image_shows_every_channel():
    fig = plots.network_image(np.zeros((3, 20, 20)))
    assert [ax.images[0].get_array().shape for ax in fig.axes] == [(20, 20)] * 3


def test_learning_curves_one_train_and_one_val_line_per_fold():
    h = pd.DataFrame({"epoch": [1, 2, 3] * 2, "fold": [0] * 3 + [1] * 3,
                      "train_loss": [3.0, 2.0, 1.5, 3.1, 2.1, 1.6], "val_loss": [3.2, 2.5, 2.0, 3.3, 2.6, 2.1],
                      "train_acc": [0.1, 0.3, 0.5, 0.1, 0.2, 0.4], "val_acc": [0.2, 0.4, 0.6, 0.1, 0.3, 0.5]})
    fig = plots.learning_curves(h)
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.lines) == len(acc_ax.lines) == 4
    val_fold1 = [ln for ln in acc_ax.lines if ln.get_label() == "fold 1"][0]
    np.testing.assert_array_equal(val_fold1.get_ydata(), [0.1, 0.3, 0.5])
    with pytest.raises(ValueError, match="no training history"):
        plots.learning_curves(pd.DataFrame())


def test_class_balance_sorted_with_verified_overlay():
    summary = pd.DataFrame({"train": [30, 10, 20], "verified": [5, 10, 0]}, index=["a", "b", "c"])
    fig = plots.class_balance(summary)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "c", "a"]
    widths = [p.get_width() for p in ax.patches]
    assert widths == [10, 20, 30, 10, 0, 5]


def test_verified_share_bars_are_shares():
    summary = pd.DataFrame({"train": [10, 4], "verified": [5, 4]}, index=["a", "b"])
    ax = plots.verified_share(summary).axes[0]
    assert sorted(p.get_width() for p in ax.patches) == [0.5, 1.0]
    assert ax.lines[0].get_xdata()[0] == pytest.approx(9 / 14)


def test_duration_histogram_counts_every_clip():
    rng = np.random.default_rng(0)
    d = {"train": rng.uniform(0.3, 30, 50), "test": rng.uniform(0.3, 10, 20)}
    ax = plots.duration_histogram(d).axes[0]
    heights = np.array([p.get_height() for p in ax.patches])
    assert heights.sum() == 70
    assert ax.get_xscale() == "log"


def test_usage_counts():
    test = pd.DataFrame({"usage": ["Public"] * 2 + ["Private"] * 7 + ["Ignored"]})
    ax = plots.usage_counts(test).axes[0]
    assert [p.get_height() for p in ax.patches] == [2, 7, 1]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Public", "Private", "Ignored"]


def test_comparison_bars_put_ours_beside_the_paper_and_skip_missing():
    table = pd.DataFrame({"ours": [0.5, np.nan], "paper": [0.7, 0.8]}, index=["2 s", "3 s"])
    ax = plots.comparison_bars(table, "ours", "paper").axes[0]
    heights = [p.get_height() for p in ax.patches]
    assert heights == pytest.approx([0.5, 0.0, 0.7, 0.8])
    assert sorted(t.get_text() for t in ax.texts) == ["0.500", "0.700", "0.800"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["ours", "paper (FSDKaggle2018)"]


def test_topk_bars_colour_right_and_wrong():
    ax = plots.topk_bars(["Bark", "Meow", "Cough"], [0.6, 0.3, 0.1], true_label="Meow").axes[0]
    colours = [p.get_facecolor() for p in ax.patches]
    assert colours == [to_rgba(plots.WRONG_COLOR), to_rgba(plots.RIGHT_COLOR), to_rgba(plots.WRONG_COLOR)]
    top_down = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())), reverse=True)
    assert [label for _, label in top_down] == ["Bark", "Meow", "Cough"]   # best on top


def test_top_tags_grid_one_chart_per_file():
    table = pd.DataFrame({"file": ["/x/a.wav", "/x/b.wav"], "tag_1": ["Bark", "Meow"], "prob_1": [0.9, 0.5],
                          "tag_2": ["Meow", "Bark"], "prob_2": [0.1, 0.4]})
    fig = plots.top_tags_grid(table, {"/x/a.wav": "Bark"})
    assert [ax.get_title() for ax in fig.axes] == ["a.wav", "b.wav"]
    assert fig.axes[0].patches[0].get_facecolor() == to_rgba(plots.RIGHT_COLOR)


def test_system_scores_reference_line_at_the_baseline():
    scores = pd.DataFrame({"map3_whole": [0.4, 0.8], "map3_public": [0.5, 0.9], "map3_private": [0.3, 0.7]},
                          index=["DCASE baseline", "ensemble"])
    ax = plots.system_scores(scores, reference="DCASE baseline").axes[0]
    assert len(ax.patches) == 6
    assert ax.lines[0].get_ydata()[0] == pytest.approx(0.4)


def test_mixup_and_erasing_figures():
    a, b = np.zeros((1, 8, 8)), np.ones((1, 8, 8))
    fig = plots.mixup_figure(a, b, 0.3 * a + 0.7 * b, 0.3, "A", "B", waves=(np.zeros(10),) * 3, sample_rate=10)
    assert len(fig.axes) == 6
    np.testing.assert_allclose(fig.axes[2].images[0].get_array(), 0.7)
    fig = plots.erasing_figure(a, b)
    assert [ax.images[0].get_clim() for ax in fig.axes] == [(0.0, 1.0)] * 2


def test_waveform_grid():
    fig = plots.waveform_grid({"a": np.zeros(10), "b": np.ones(10), "c": np.zeros(10)}, 10, columns=2)
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]
