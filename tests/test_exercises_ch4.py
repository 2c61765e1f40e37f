"""The solutions of chapter 4's exercises (``audiotag.book.exercises.ch4_inception2d``) and its figures."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audiotag.book import plots
from audiotag.book.exercises import ch4_inception2d as ex
from audiotag.models import build_model


@pytest.fixture(scope="module")
def model():
    return build_model("inception2d")


def test_conv_output_size_is_the_formula():
    assert ex.conv_output_size(299, 3, 2) == 149           # the stem's first layer (valid)
    assert ex.conv_output_size(147, 3, 1, 1) == 147         # 'same' padding keeps the size
    assert ex.conv_output_size(17, 7, 1, 3) == 17           # a 7-wide kernel padded by 3
    assert ex.conv_output_size(10, 3, 3) == 3                # floor((10 - 3) / 3) + 1
    with pytest.raises(ValueError, match="does not fit"):
        ex.conv_output_size(2, 3)


@pytest.mark.parametrize("size, last", [(299, 17), (96, 4), (75, 3)])
def test_grid_sizes_formula_matches_forward_pass(model, size, last):
    table = ex.grid_sizes(model, size)
    assert list(table["layer"])[:2] == ["conv1", "conv2"] and list(table["layer"])[-1] == "mixed6"
    assert (table["size (formula)"] == table["size (forward pass)"]).all()
    assert table["size (formula)"].iloc[-1] == last
    assert table.set_index("layer").loc["mixed2", "channels"] == 288
    assert table.set_index("layer").loc["mixed6", "channels"] == 768
    if size == 299:                                            # the sizes the docstring of inception2d.py lists
        assert list(table["size (formula)"].iloc[:7]) == [149, 147, 147, 73, 73, 71, 35]


def test_factorised_weights_counts_the_real_layers(model):
    table = ex.factorised_weights(model)
    assert list(table.index) == ["mixed4", "mixed5", "mixed6"]
    assert list(table["c7"]) == [128, 160, 160]
    assert (table["1x7 + 7x1 weights (counted)"] == table["1x7 + 7x1 (formula)"]).all()
    row = table.loc["mixed5"]
    assert row["1x7 + 7x1 weights (counted)"] == 7 * 160 * 160 + 7 * 160 * 192 == 394_240
    assert row["one 7x7"] == 49 * 160 * 192
    assert row["saving"] == pytest.approx(1 - 394_240 / 1_505_280)
    # the block's convolution weights are its Keras count minus 3 numbers per channel of each BatchNorm
    assert row["block weights"] == 1_692_736 - 3 * sum(
        m.num_features for m in model.features.mixed5.modules() if hasattr(m, "running_mean"))
    assert 0.6 < row["block saving"] < 0.7


def test_input_cost_grows_faster_than_pixels(model):
    table = ex.input_cost(model, (96, 299))
    assert table.loc["299 x 299", "pixels ratio"] == pytest.approx(299 ** 2 / 96 ** 2)
    assert table.loc["96 x 96", "multiply-adds ratio"] == 1
    # valid convolutions and stride-2 floors cut a larger share off a small image: more than the pixel ratio
    assert table.loc["299 x 299", "multiply-adds ratio"] > table.loc["299 x 299", "pixels ratio"]
    # the head alone: 768 x 1024 + 1024 x 41 multiply-adds whatever the size
    assert ex.multiply_adds(model, 75) > 768 * 1024 + 1024 * 41


def test_feature_verdict():
    table = pd.DataFrame({"validation accuracy": [0.70, 0.75, np.nan, 0.60],
                          "sd over folds": [0.01, 0.02, np.nan, 0.05]}, index=["mfcc", "logmel", "multires", "spec"])
    verdict = ex.feature_verdict(table)
    assert verdict["best"] == "logmel" and verdict["runner-up"] == "mfcc"
    assert verdict["gap"] == pytest.approx(0.05) and verdict["larger sd of the two"] == pytest.approx(0.02)
    assert verdict["gap larger than the sd"]
    close = table.assign(**{"sd over folds": [0.01, 0.08, np.nan, 0.05]})
    assert not ex.feature_verdict(close)["gap larger than the sd"]
    one_fold = table.assign(**{"sd over folds": np.nan})
    assert not ex.feature_verdict(one_fold)["gap larger than the sd"]
    with pytest.raises(ValueError, match="two trained rows"):
        ex.feature_verdict(table.iloc[[2, 3]].assign(**{"validation accuracy": [np.nan, 0.5]}))


def test_inception_diagram_draws_the_blocks_as_built(model):
    f = model.features
    fig = plots.inception_diagram({"A": f.mixed0, "B": f.mixed3, "C": f.mixed5})
    assert len(fig.axes) == 3
    texts = {ax.get_title(loc="left"): [t.get_text() for t in ax.texts] for ax in fig.axes}
    assert "concatenate: 64 + 64 + 96 + 32 = 256" in texts["A"]
    assert "concatenate: 384 + 96 + 288 = 768" in texts["B"]
    assert "input, 768 channels" in texts["C"] and "1x7 conv, 160" in texts["C"] and "7x1 conv, 192" in texts["C"]
    assert any("stride 2" in t for t in texts["B"])
    # one box per layer: block C has 1 + 3 + 5 + 2 layers, plus the input and the concatenation
    assert sum("conv" in t or "pool" in t for t in texts["C"]) == 11


def test_conv_feature_maps():
    image = np.random.default_rng(0).normal(size=(20, 30))
    kernel = np.array([[-1.0, 0.0, 1.0]] * 3)
    out = np.zeros((18, 28))
    fig = plots.conv_feature_maps(image, {"onset": kernel}, {"onset": out}, window=(2, 3), title="t")
    assert len(fig.axes) == 3
    assert fig.axes[2].get_title() == "output: 18 x 28"
    with pytest.raises(ValueError, match="same names"):
        plots.conv_feature_maps(image, {"onset": kernel}, {"other": out})
