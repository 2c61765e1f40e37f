"""Chapter 3's exercise solutions (audiotag.book.exercises.ch3_conv1d) on small data with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from torch import nn

from audiotag.book.exercises import ch3_conv1d as ex
from audiotag.features.config import FeatureConfig
from audiotag.models import build_model
from audiotag.training.checkpoint import save_checkpoint
from audiotag.training.config import InferenceConfig
from audiotag.training.metrics import map3


def test_receptive_field_milestones_of_the_paper_net_and_a_deeper_one():
    models = {"paper": build_model("conv1d"), "3 blocks": build_model("conv1d", blocks_per_stage=3)}
    table = ex.receptive_field_milestones(models, {"16 kHz": 16000, "44.1 kHz": 44100})
    first, out = "after the first residual block", "at the output"
    # stem 80, pool 80 + 3*4 = 92, two kernel-3 convs at jump 16: 92 + 2*2*16 = 156, for both
    assert table[(first, "samples")].tolist() == [156, 156]
    assert table.loc["paper", (first, "ms, 16 kHz")] == pytest.approx(9.75)
    assert table.loc["paper", (out, "samples")] == 11_980
    assert table.loc["paper", (out, "ms, 44.1 kHz")] == pytest.approx(1000 * 11_980 / 44_100)
    # one more block per stage: two more kernel-3 convs at jumps 16, 64, 256, 1024
    assert table.loc["3 blocks", (out, "samples")] == 11_980 + 4 * (16 + 64 + 256 + 1024)
    with pytest.raises(ValueError, match="stage1_block1"):
        ex.receptive_field_milestones({"tiny": nn.Sequential(nn.Conv1d(1, 2, 3), nn.MaxPool1d(2))},
                                      {"16 kHz": 16000})


def test_map3_by_hand_agrees_with_the_metric():
    classes = ["Bark", "Meow", "Violin_or_fiddle", "Trumpet", "Cough"]
    rankings = [["Bark", "Meow", "Cough"], ["Meow", "Trumpet", "Bark"], ["Cough", "Bark", "Meow"],
                ["Trumpet", "Cough", "Bark"]]
    truths = ["Bark", "Trumpet", "Meow", "Violin_or_fiddle"]
    table = ex.map3_by_hand(rankings, truths)
    assert table["rank of the truth"].tolist() == [1, 2, 3, 0]
    assert table["AP@3"].mean() == pytest.approx((1 + 1 / 2 + 1 / 3 + 0) / 4)
    # the same rankings as scores: the package's metric gives the same number
    probs = np.zeros((len(rankings), len(classes)))
    for i, ranking in enumerate(rankings):
        for r, label in enumerate(ranking):
            probs[i, classes.index(label)] = 0.5 / (r + 1)
    assert map3(probs, np.array([classes.index(t) for t in truths])) == pytest.approx(table["AP@3"].mean())
    with pytest.raises(ValueError):
        ex.map3_by_hand(rankings, truths[:2])


def test_first_layer_parameters():
    row = ex.first_layer_parameters(build_model("conv1d")).iloc[0]
    assert row["by the formula"] == 80 * 1 * 48 + 48 == row["counted in the model"]
    small = ex.first_layer_parameters(build_model("conv1d", channels=(8, 8, 8, 8))).iloc[0]
    assert small["filters"] == 8 and small["by the formula"] == 80 * 8 + 8


def test_moving_average_is_a_low_pass_with_zeros_at_multiples_of_rate_over_length(tmp_path):
    rate, n_fft = 16000, 16000                       # 1 Hz bins
    resp = ex.frequency_responses({"moving average": ex.moving_average(80)}, rate, n_fft)["moving average"]
    assert ex.moving_average(80).sum() == pytest.approx(1.0)
    assert resp.loc[0.0] == pytest.approx(0.0)                            # 0 dB at DC, its peak
    assert resp.loc[200.0] < -80 and resp.loc[400.0] < -80                 # zeros at k * 16000 / 80 Hz
    assert resp.loc[300.0] == pytest.approx(20 * np.log10(1 / (80 * np.sin(np.pi * 300 / 16000))), abs=0.01)
    # a windowed 2 kHz cosine peaks near 2 kHz: a band-pass
    t = np.arange(80)
    band = np.hanning(80) * np.cos(2 * np.pi * 2000 * t / rate)
    both = ex.frequency_responses({"band": band, "avg": ex.moving_average()}, rate, 2048)
    assert abs(both["band"].idxmax() - 2000) < 100 and both["avg"].idxmax() == 0
    fig = ex.response_figure(both)
    assert len(fig.axes[0].lines) == 2 and fig.axes[0].get_xlabel() == "frequency (kHz)"


def test_learned_filters_read_from_a_checkpoint(tmp_path):
    model = build_model("conv1d", channels=(4, 4, 4, 4))
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, model, model_name="conv1d", model_kwargs=model.init_kwargs, classes=[f"c{i}" for i in range(41)],
                    features=FeatureConfig(kind="waveform", sample_rate=16000, image_size=None),
                    inference=InferenceConfig())
    filters, rate = ex.learned_filters(path)
    assert filters.shape == (4, 80) and rate == 16000
    np.testing.assert_allclose(filters, model.features.stem.conv.weight[:, 0].detach().numpy())


def test_fold_class_counts():
    split = pd.DataFrame({"label": ["a"] * 6 + ["b"] * 3, "fold": [0, 1, 2, 0, 1, 2, 0, 1, 2]})
    counts = ex.fold_class_counts(split)
    assert list(counts.columns) == ["fold 0", "fold 1", "fold 2"]
    assert counts.loc["a"].tolist() == [2, 2, 2] and counts.loc["b"].tolist() == [1, 1, 1]
    assert counts.loc["all classes"].tolist() == [3, 3, 3]


# ------------------------------------------------------------------------- the chapter's figures (audiotag.book.plots)
def test_chapter3_figures():
    from audiotag.book import plots
    from audiotag.evaluation.paper_results import table3

    rate = 8000
    wave = np.sin(2 * np.pi * 440 * np.arange(400) / rate)
    kernels = {"avg": ex.moving_average(80)}
    fig = plots.conv1d_outputs(wave, rate, kernels, {"avg": np.convolve(wave, kernels["avg"], "valid")[::4]}, 4)
    assert len(fig.axes) == 3 and fig.axes[-1].get_xlabel() == "time (s)"
    with pytest.raises(ValueError):
        plots.conv1d_outputs(wave, rate, kernels, {"other": wave}, 4)

    filters = np.random.default_rng(0).normal(size=(6, 80))
    freqs = np.fft.rfftfreq(256, 1 / rate)
    db = 20 * np.log10(np.abs(np.fft.rfft(filters, 256, axis=1)) + 1e-9)
    fig = plots.learned_filterbank(filters, db - db.max(axis=1, keepdims=True), freqs, rate, examples=3)
    assert len(fig.axes) == 3 + 1 + 1                          # 3 kernels, the image, its colour bar
    with pytest.raises(ValueError):
        plots.learned_filterbank(filters, db[:, :10], freqs, rate)

    fig = plots.fold_diagram(3, [10, 10, 9])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert texts.count("validate") == 3 and texts.count("train") == 6 and "fold 2\n9 clips" in texts

    ours = pd.Series([0.5, 0.6], index=["0.5 s", "1 s"])
    fig = plots.study_panels(ours, table3()["val acc"], ours * 0.1, reference=0.55)   # each panel its own rows
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0.5 s", "1 s"]
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["2 s", "3 s", "4 s", "5 s"]
    ranks = [t.get_text().split("#")[1] for t in fig.axes[0].texts]
    assert ranks == ["2", "1"]                                  # 0.6 ranks first
    same = plots.study_panels(table3()["val acc"][::-1], table3()["val acc"])       # same rows: ours' order
    assert [t.get_text() for t in same.axes[1].get_xticklabels()] == ["5 s", "4 s", "3 s", "2 s"]
