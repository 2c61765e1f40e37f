import importlib
import json

import numpy as np
import pytest

from audiotag.data.audio import load_audio, write_audio
from audiotag.cli import main
from audiotag.evaluation.ensembles import EnsembleError, geometric_mean
from audiotag.fileio import read_json, write_json
from audiotag.data.labels import LABELS
from audiotag.training.runs import RunDir

# ``audiotag.inference.tagging`` may be re-exported as a function by the package; the module is reached this way.
predict_module = importlib.import_module("audiotag.inference.tagging")
predict = predict_module.predict


class ToyPredictor:
    """A real, deterministic Predictor-like model: a fixed linear map of three waveform statistics (log RMS,
    zero-crossing rate, log duration) to 41 logits, at 16 kHz. Its "checkpoint" is a JSON file with a seed."""

    sample_rate = 16000
    classes = LABELS

    def __init__(self, seed: int):
        rng = np.random.default_rng(seed)
        self.weights = rng.normal(size=(3, len(LABELS)))
        self.bias = rng.normal(size=len(LABELS))
        self.seen_lengths: list[int] = []

    @classmethod
    def from_checkpoint(cls, path, device=None, precision="auto"):
        predictor = cls(read_json(path)["seed"])
        predictor.precision = precision
        return predictor

    def predict_waves(self, waves):
        stats = []
        for w in waves:
            self.seen_lengths.append(len(w))
            rms = np.sqrt(np.mean(np.square(w, dtype=np.float64))) + 1e-6
            zcr = np.mean(np.abs(np.diff(np.sign(w)))) / 2 if len(w) > 1 else 0.0
            stats.append([np.log(rms), zcr, np.log(len(w) / self.sample_rate)])
        logits = np.asarray(stats) @ self.weights + self.bias
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


def make_toy_run(root, name, seeds):
    run = RunDir(root / name)
    write_json(run.config_path, {"classes": list(LABELS), "n_folds": len(seeds)})
    for k, seed in enumerate(seeds):
        write_json(run.checkpoint_path(k), {"seed": seed})
        write_json(run.result_path(k), {"best_epoch": 1, "val_acc": 0.5 + 0.1 * k, "val_map3": 0.6, "epochs_run": 1})
    return run


@pytest.fixture
def audio_dir(tmp_path):
    rng = np.random.default_rng(0)
    d = tmp_path / "mine"
    t = np.arange(44100) / 44100
    write_audio(d / "tone.wav", 0.5 * np.sin(2 * np.pi * 440 * t), 44100)
    write_audio(d / "stereo48k.flac", 0.3 * rng.standard_normal((48000, 2)), 48000)
    write_audio(d / "short.wav", 0.2 * rng.standard_normal(int(0.2 * 22050)), 22050)   # a 0.2 s clip
    write_audio(d / "nested" / "deep.ogg", 0.4 * np.sin(2 * np.pi * 1000 * t[:22050]), 44100)
    (d / "corrupt.wav").write_bytes(b"RIFF....WAVEfmt this is not audio")
    (d / "notes.txt").write_text("not audio, and not an audio extension: ignored")
    return d


@pytest.fixture
def toy_loader(monkeypatch):
    monkeypatch.setattr(predict_module, "load_predictor", ToyPredictor.from_checkpoint)
    return ToyPredictor.from_checkpoint


def test_predict_folder_tags_good_files_and_reports_the_corrupt_one(tmp_path, audio_dir, toy_loader):
    run = make_toy_run(tmp_path, "toy", seeds=[1, 2])
    table, failures = predict([audio_dir], run=run.path, top=3)
    names = sorted(p.split("/")[-1] for p in table["file"])
    assert names == ["deep.ogg", "short.wav", "stereo48k.flac", "tone.wav"]
    assert [f.path for f in failures] == [str(audio_dir / "corrupt.wav")]
    assert "unreadable audio" in failures[0].reason
    assert str(audio_dir) not in failures[0].reason     # the path is said once, by the failure, not in its reason
    assert list(table.columns) == ["file", "tag_1", "prob_1", "tag_2", "prob_2", "tag_3", "prob_3"]
    assert set(table[["tag_1", "tag_2", "tag_3"]].to_numpy().ravel()) <= set(LABELS)
    assert (table["prob_1"] >= table["prob_2"]).all() and (table["prob_2"] >= table["prob_3"]).all()

    # The run's two folds are averaged, on audio loaded at the model's rate (mono, resampled).
    stereo = str(audio_dir / "stereo48k.flac")
    wave = load_audio(stereo, 16000)
    assert wave.ndim == 1 and len(wave) == 16000
    expected = (ToyPredictor(1).predict_waves([wave]) + ToyPredictor(2).predict_waves([wave]))[0] / 2
    row = table.set_index("file").loc[stereo]
    assert row["tag_1"] == LABELS[int(np.argmax(expected))]
    assert row["prob_1"] == pytest.approx(expected.max(), rel=1e-5)


def test_ensemble_spec_across_runs_and_rank_refused(tmp_path, audio_dir, toy_loader):
    a, b = make_toy_run(tmp_path, "a", [1, 2]), make_toy_run(tmp_path, "b", [3])
    tone = audio_dir / "tone.wav"
    table, failures = predict([tone], run=[a.path, b.path], ensemble="geometric; best=a=1; weights=3,1", top=41)
    assert not failures and len(table) == 1
    wave = load_audio(tone, 16000)
    # best=a=1 keeps a's fold with the higher val_acc (fold 1, seed 2); weights 3:1 against b's only fold.
    expected = geometric_mean([ToyPredictor(2).predict_waves([wave]), ToyPredictor(3).predict_waves([wave])], [3, 1])[0]
    tags, values = (table.loc[0, [f"{kind}_{i}" for i in range(1, 42)]] for kind in ("tag", "prob"))
    probs = dict(zip(tags, values))
    np.testing.assert_allclose([probs[c] for c in LABELS], expected, rtol=1e-5)
    with pytest.raises(EnsembleError, match="rank averaging ranks each class's scores across a whole test set"):
        predict([tone], run=[a.path, b.path], ensemble="rank")


def test_cli_predict_exit_codes_and_formats(tmp_path, audio_dir, toy_loader, capsys):
    run = make_toy_run(tmp_path, "toy", [1])
    assert main(["predict", str(audio_dir), "--run", str(run.path), "--format", "json"]) == 1
    out, err = capsys.readouterr()
    records = json.loads(out)
    assert len(records) == 4 and all(len(r["tags"]) == 3 for r in records)
    assert "corrupt.wav" in err and "unreadable audio" in err

    out_csv = tmp_path / "tags.csv"
    assert main(["predict", str(audio_dir / "tone.wav"), "--run", str(run.path), "--top", "2", "--format", "csv",
                 "--out", str(out_csv)]) == 0
    lines = out_csv.read_text().splitlines()
    assert lines[0] == "file,tag_1,prob_1,tag_2,prob_2" and len(lines) == 2

    assert main(["predict", str(audio_dir / "tone.wav"), "--run", str(run.path), "--ensemble", "rank"]) == 2
    assert "rank averaging" in capsys.readouterr().err
    assert main(["predict", str(audio_dir / "tone.wav"), "--run", str(tmp_path / "nope")]) == 2
    assert "not a run directory" in capsys.readouterr().err


def test_predict_with_the_real_predictor(tmp_path, audio_dir):
    """End to end with audiotag.inference.predictor.Predictor and a tiny real checkpoint (1D-ConvNet, 4 channels, 8 kHz)."""
    import torch

    from audiotag.training.checkpoint import save_checkpoint
    from audiotag.features.config import FeatureConfig
    from audiotag.training.config import InferenceConfig
    from audiotag.models import build_model

    run = RunDir(tmp_path / "real")
    write_json(run.config_path, {"classes": list(LABELS), "n_folds": 1})
    write_json(run.result_path(0), {"best_epoch": 1, "val_acc": 0.5, "val_map3": 0.6, "epochs_run": 1})
    torch.manual_seed(0)
    kwargs = {"channels": [4, 4]}
    save_checkpoint(run.checkpoint_path(0), build_model("conv1d", n_classes=len(LABELS), **kwargs),
                    model_name="conv1d", model_kwargs=kwargs, classes=LABELS,
                    features=FeatureConfig(kind="waveform", sample_rate=8000, image_size=None),
                    inference=InferenceConfig(crop_seconds=0.5))
    table, failures = predict([audio_dir / "short.wav", audio_dir / "stereo48k.flac", audio_dir / "corrupt.wav"],
                              run=run.path, device="cpu")
    assert len(table) == 2 and [f.path.endswith("corrupt.wav") for f in failures] == [True]
    assert ((table["prob_1"] > 0) & (table["prob_1"] <= 1)).all()


def test_predict_passes_its_precision_to_every_checkpoint(tmp_path, audio_dir, toy_loader, monkeypatch):
    """``precision`` (``audiotag predict --precision fp32``: what the book's page computes) reaches the loader."""
    seen = []

    def recording_loader(path, device=None, precision="auto"):
        seen.append(precision)
        return ToyPredictor.from_checkpoint(path, device, precision)

    monkeypatch.setattr(predict_module, "load_predictor", recording_loader)
    run = make_toy_run(tmp_path, "toy", seeds=[1, 2])
    predict([audio_dir / "tone.wav"], run=run.path, precision="fp32")
    predict([audio_dir / "tone.wav"], run=run.path)
    assert seen == ["fp32", "fp32", "auto", "auto"]
