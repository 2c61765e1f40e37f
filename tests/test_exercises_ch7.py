"""Chapter 7 (Tag your own audio): the helpers and exercise solutions of ``audiotag.book.exercises.ch7_tagging``,
on tiny real checkpoints (a 4-channel 1D-ConvNet at 8 kHz), and the true label shown by ``plots.top_tags_grid``."""
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba

from audiotag.book import plots
from audiotag.book.exercises import ch7_tagging as ch7
from audiotag.data.audio import window_crops, write_audio
from audiotag.data.labels import LABELS
from audiotag.features.config import FeatureConfig
from audiotag.fileio import write_json
from audiotag.inference.predictor import Predictor
from audiotag.inference.tagging import predict_files, top_tags
from audiotag.training.checkpoint import save_checkpoint
from audiotag.training.config import InferenceConfig
from audiotag.training.metrics import map3
from audiotag.training.prediction_sets import Predictions
from audiotag.training.runs import RunDir

RATE = 8000


def make_run(root, name="1d", seeds=(0, 1), max_crops=3):
    """A run of tiny real 1D-ConvNet checkpoints (one per seed) at 8 kHz with 0.5 s windows."""
    from audiotag.models import build_model

    run = RunDir(root / name)
    write_json(run.config_path, {"classes": list(LABELS), "n_folds": len(seeds)})
    kwargs = {"channels": [4, 4]}
    for k, seed in enumerate(seeds):
        write_json(run.result_path(k), {"best_epoch": 1, "val_acc": 0.5, "val_map3": 0.6, "epochs_run": 1})
        torch.manual_seed(seed)
        save_checkpoint(run.checkpoint_path(k), build_model("conv1d", n_classes=len(LABELS), **kwargs),
                        model_name="conv1d", model_kwargs=kwargs, classes=LABELS,
                        features=FeatureConfig(kind="waveform", sample_rate=RATE, image_size=None),
                        inference=InferenceConfig(crop_seconds=0.5, max_crops=max_crops))
    return run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("ch7"))


@pytest.fixture(scope="module")
def predictor(run):
    return Predictor.from_checkpoint(run.checkpoint_path(0), device="cpu")


def tone(seconds, rate=RATE, freq=440.0):
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_window_starts_is_the_overlap_rule():
    crop = 100
    for length in (1, 50, 100, 101, 150, 151, 299, 300, 1000):
        starts = ch7.window_starts(length, crop, max_crops=1000)
        expected = max(1, int(np.ceil(2 * max(length, crop) / crop)) - 1)
        assert len(starts) == expected
        # The same count and starts as the waveform-level rule of audiotag.data.audio.window_crops.
        wave = np.arange(length, dtype=np.float32)
        crops = window_crops(wave, crop)
        assert len(crops) == len(starts)
        if length >= crop:
            np.testing.assert_array_equal(crops[:, 0], starts)
            assert starts[0] == 0 and starts[-1] == length - crop       # first and last windows touch the ends
            assert (np.diff(starts) <= crop / 2 + 1).all()              # overlap of at least half a window
    assert len(ch7.window_starts(10_000, crop, max_crops=8)) == 8           # capped
    assert ch7.window_starts(10_000, crop, n_crops=3).tolist() == [0, 4950, 9900]
    assert ch7.window_starts(300, crop, mode="center").tolist() == [100]
    with pytest.raises(ValueError):
        ch7.window_starts(0, crop)


def test_window_table_agrees_with_the_predictor(predictor):
    table = ch7.window_table(predictor, [0.2, 0.5, 1.0, 3.0])
    assert (table["windows (rule)"] == table["windows (Predictor)"]).all()
    # crop 0.5 s, at most 3 windows: 0.2 s and 0.5 s -> 1; 1.0 s -> ceil(4) - 1 = 3; 3.0 s -> 11, capped at 3
    assert table["windows (rule)"].tolist() == [1, 1, 3, 3]
    assert table.loc[1.0, "hop (s)"] == pytest.approx(0.25)
    assert table["windows cover the clip"].tolist() == [True, True, True, False]
    assert table.loc[3.0, "hop (s)"] == pytest.approx(1.25)


def test_window_crops_start_where_the_rule_says(predictor):
    wave = np.random.default_rng(0).standard_normal(RATE).astype(np.float32)   # 1 s: 3 windows of 0.5 s
    crops, starts_s, crop_s = ch7.predictor_windows(predictor, wave)
    assert crop_s == pytest.approx(0.5) and starts_s.tolist() == pytest.approx([0.0, 0.25, 0.5])
    for crop, s in zip(crops.numpy(), starts_s):
        i = int(round(s * RATE))
        np.testing.assert_allclose(crop[0], wave[i:i + RATE // 2])


def test_window_probabilities_average_to_the_clip_probability(predictor):
    wave = tone(1.3)
    starts, probs, crop_s = ch7.window_probabilities(predictor, wave)
    assert probs.shape == (len(starts), len(LABELS)) and len(starts) == 3
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(probs.mean(axis=0), predictor.predict_waves([wave])[0], rtol=1e-4, atol=1e-6)
    fig = ch7.window_figure(wave, RATE, starts, crop_s, probs[:, 0], LABELS[0])
    assert len(fig.axes) == 2 and fig.axes[1].lines[0].get_ydata()[0] == pytest.approx(probs[:, 0].mean())


def test_describe_runs_and_player_wave(run, tmp_path):
    table = ch7.describe_runs([run.path])
    assert table.loc["1d", "network"] == "1D-ConvNet" and table.loc["1d", "sample rate (Hz)"] == RATE
    assert table.loc["1d", "folds averaged"] == 2 and table.loc["1d", "most windows per clip"] == 3
    stereo = np.stack([tone(0.5, 22050), np.zeros(11025, np.float32)], axis=1)
    write_audio(tmp_path / "s.flac", stereo, 22050)
    wave, rate = ch7.player_wave(tmp_path / "s.flac")
    assert rate == 22050 and wave.shape == (11025,)
    np.testing.assert_allclose(wave, stereo.mean(axis=1), atol=1e-3)      # channels averaged, no resampling


def test_cached_loader_loads_each_checkpoint_once(run, tmp_path):
    calls = []

    def counting(path, device=None):
        calls.append(str(path))
        return Predictor.from_checkpoint(path, device="cpu")

    load = ch7.cached_loader(counting)
    assert load(run.checkpoint_path(0)) is load(run.checkpoint_path(0))
    path = tmp_path / "t.wav"
    write_audio(path, tone(0.6), RATE)
    first, _ = predict_files([path], run=run.path, loader=load)
    again, _ = predict_files([path], run=run.path, loader=load)
    np.testing.assert_array_equal(first.probs, again.probs)
    assert sorted(calls) == sorted({str(run.checkpoint_path(k)) for k in (0, 1)})


def test_fold_table_ends_with_what_predict_returns(run, tmp_path):
    path = tmp_path / "a.wav"
    write_audio(path, tone(0.8, 22050), 22050)
    other = make_run(tmp_path, "2d", seeds=(5,))
    folds = ch7.fold_probabilities(path, [run.path, other.path], device="cpu")
    assert list(folds) == ["1d/fold_0", "1d/fold_1", "2d/fold_0"]
    table = ch7.fold_table(folds, LABELS, true_label="Meow")
    preds, failures = predict_files([path], run=[run.path, other.path], device="cpu")
    assert not failures
    combined = preds.probs[0]
    assert table.index[-1] == "both runs: mean of the run means"
    # runs weigh equally: (mean of 1d's two folds + 2d's one fold) / 2, not the mean of the three folds
    expected = ((folds["1d/fold_0"] + folds["1d/fold_1"]) / 2 + folds["2d/fold_0"]) / 2
    np.testing.assert_allclose(expected, combined, rtol=1e-5)
    assert table.iloc[-1]["top tag"] == LABELS[int(np.argmax(combined))]
    assert table.iloc[-1]["p(top tag)"] == pytest.approx(combined.max(), rel=1e-5)
    j = LABELS.index("Meow")
    assert table.iloc[-1]["rank of the true label"] == 1 + int((combined > combined[j]).sum())   # no ties here


def test_mix_at_snr_has_the_asked_snr():
    signal = tone(1.0)
    for snr in (20, 0, -10):
        mixed = ch7.mix_at_snr(signal, snr, seed=1)
        noise = mixed - signal
        measured = 10 * np.log10(np.mean(signal.astype(float) ** 2) / np.mean(noise.astype(float) ** 2))
        assert measured == pytest.approx(snr, abs=1e-3)
    np.testing.assert_array_equal(ch7.mix_at_snr(signal, 10, seed=3), ch7.mix_at_snr(signal, 10, seed=3))
    with pytest.raises(ValueError, match="silent"):
        ch7.mix_at_snr(np.zeros(100), 10)
    versions = ch7.noisy_versions(signal, (20, 0), seed=4)
    assert list(versions) == ["clean", "20 dB", "0 dB"]
    np.testing.assert_array_equal(versions["clean"], signal)
    np.testing.assert_array_equal(versions["0 dB"], ch7.mix_at_snr(signal, 0, seed=5))


def test_tag_under_noise_rows_and_clean_version(run, tmp_path):
    wave = tone(1.0, 22050)
    table = ch7.tag_under_noise(wave, 22050, run.path, snrs_db=(20, -20), true_label="Meow")
    assert table.index.tolist() == ["clean", "20 dB", "-20 dB"]
    assert not table.loc["clean", "top tag changed"]
    assert ((table["p(top tag)"] > 0) & (table["p(top tag)"] <= 1)).all()
    assert table["rank of the true label"].between(1, len(LABELS)).all()
    # The clean row is the same as tagging the clean file directly.
    path = tmp_path / "clean.wav"
    write_audio(path, wave, 22050, subtype="FLOAT")
    preds, _ = predict_files([path], run=run.path, device="cpu")
    assert table.loc["clean", "p(top tag)"] == pytest.approx(float(preds.probs[0].max()), rel=1e-4)
    clean_top = table.loc["clean", "top tag"]
    assert table[f"p({clean_top})"].iloc[0] == pytest.approx(table.loc["clean", "p(top tag)"])


def _preds(rows, fnames=("a.wav", "b.wav", "c.wav")):
    probs = np.full((len(rows), len(LABELS)), 0.001)
    for i, scores in enumerate(rows):
        for label, p in scores.items():
            probs[i, LABELS.index(label)] = p
    probs /= probs.sum(axis=1, keepdims=True)
    return Predictions(np.asarray(fnames[:len(rows)]), probs, LABELS, "toy")


def test_true_label_ranks_and_their_map3():
    preds = _preds([{"Bark": 0.6, "Meow": 0.3}, {"Bark": 0.5, "Meow": 0.2, "Cough": 0.1, "Chime": 0.05},
                    {"Bus": 0.9}])
    truth = {"a.wav": "Bark", "b.wav": "Chime", "c.wav": "Meow"}
    table = ch7.true_label_ranks(preds, truth)
    # c.wav: Meow ties with 39 classes after Bus; ties are ordered as top_tags orders them (class order)
    tie_rank = top_tags(preds, len(LABELS)).iloc[2, 1::2].tolist().index("Meow") + 1
    assert tie_rank > 3
    assert table["rank"].tolist() == [1, 4, tie_rank]
    assert table["AP@3"].tolist() == pytest.approx([1.0, 0.0, 0.0])
    targets = np.array([LABELS.index(truth[f]) for f in preds.fnames])
    assert table["AP@3"].mean() == pytest.approx(map3(preds.probs, targets))
    assert table.loc["b.wav", "top tag"] == "Bark"
    assert len(ch7.true_label_ranks(preds, {"a.wav": "Bark"})) == 1      # files without a label are left out


def test_compare_systems_tops_and_credits():
    one = _preds([{"Bark": 0.6, "Meow": 0.3, "Cough": 0.05}, {"Bus": 0.8, "Chime": 0.1, "Meow": 0.05}],
                 ("x/a.wav", "x/b.wav"))
    two = _preds([{"Meow": 0.6, "Bark": 0.3, "Cough": 0.05}, {"Chime": 0.8, "Bus": 0.1, "Meow": 0.05}],
                 ("x/b.wav", "x/a.wav"))   # another order: aligned by file
    table = ch7.compare_systems({"1D": one, "2D": two}, {"x/a.wav": "Meow", "x/b.wav": "Chime"})
    assert table.index.tolist() == ["a.wav", "b.wav"]
    assert table.loc["a.wav", "1D: top 3"] == "Bark, Meow, Cough"
    assert table.loc["a.wav", "2D: top 3"] == "Chime, Bus, Meow"
    assert table["1D: AP@3"].tolist() == pytest.approx([0.5, 0.5])
    assert table["2D: AP@3"].tolist() == pytest.approx([1 / 3, 0.0])
    assert "true label" not in ch7.compare_systems({"1D": one}).columns


def test_top_tags_grid_always_shows_the_true_label():
    preds = _preds([{"Bark": 0.6, "Meow": 0.3}, {"Bark": 0.5, "Meow": 0.2, "Cough": 0.1, "Chime": 0.05}])
    full = top_tags(preds, len(LABELS))
    fig = plots.top_tags_grid(full, {"a.wav": "Bark", "b.wav": "Chime"}, top=3)
    first, second = fig.axes
    assert len(first.patches) == 3 and first.patches[0].get_facecolor() == to_rgba(plots.RIGHT_COLOR)
    assert len(second.patches) == 4                      # three wrong tags and the hatched true label
    assert [p.get_facecolor() for p in second.patches[:3]] == [to_rgba(plots.WRONG_COLOR)] * 3
    labels = [t.get_text() for t in second.get_yticklabels()]
    assert "true: Chime (rank 4)" in labels
    assert second.patches[3].get_width() == pytest.approx(preds.probs[1, LABELS.index("Chime")])
    # A table holding only the top 3 cannot give the rank: the truth is still named.
    fig = plots.top_tags_grid(top_tags(preds, 3), {"b.wav": "Chime"})
    assert "true: Chime" in [t.get_text() for t in fig.axes[1].get_yticklabels()]
    assert any("not among the top 3" in t.get_text() for t in fig.axes[1].texts)
