"""The networks as ONNX files for the book's page (``audiotag.inference.onnx_export``): each fold exported with
``torch.onnx.export`` equals its checkpoint in torch within 1e-4 on real clips (same bank, windows and averages), the
float16 copy is half the size and is shipped only when every clip keeps its top 3, the manifest says what the page
needs, and a file that does not match its checkpoint is caught."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from audiotag.data.audio import load_audio
from audiotag.inference.onnx_export import (FP32_TOLERANCE, MANIFEST_FORMAT, ExportError, OnnxPredictor,
                                            check_fold, crop_shape, export_fold, export_for_page, page_clips,
                                            shrink_weights)
from audiotag.inference.tagging import predict_files
from audiotag.training.profiles import make_config
from audiotag.training.runs import RunDir
from audiotag.training.trainer import train

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def runs(tone_corpus, tmp_path_factory):
    """A 1D and a 2D smoke run (2 folds, 2 epochs each) on the tone corpus: {"1d": RunDir, "2d": RunDir}."""
    root = tmp_path_factory.mktemp("onnx_runs")
    out = {}
    for name, model in (("1d", "conv1d"), ("2d", "inception2d")):
        out[name] = train(make_config(model, None, "smoke", quiet=True, max_epochs=2), tone_corpus, root / name)
    return out


def _test_paths(tone_corpus, n=None):
    return sorted(str(p) for p in (tone_corpus / "audio_test").glob("*.wav"))[:n]


@pytest.fixture(scope="module")
def page(runs, tone_corpus, tmp_path_factory):
    """Both runs exported for the page, checked on the 16 test clips, with 3 test clips for the panel."""
    from audiotag.data.datasets import load_dataset

    clips = page_clips(load_dataset(tone_corpus).test, 3)
    return export_for_page([runs["2d"].path, runs["1d"].path], tmp_path_factory.mktemp("page"),
                           _test_paths(tone_corpus), shrink=True, clips=clips)


@pytest.mark.parametrize("name", ["1d", "2d"])
def test_an_exported_fold_equals_its_checkpoint_and_takes_any_batch(runs, page, tone_corpus, name):
    import onnxruntime as ort

    run = runs[name]
    path = page.manifest.parent / f"{name}_fold0.onnx"
    onnx_predictor = OnnxPredictor.for_checkpoint(path, run.checkpoint_path(0))
    waves = [load_audio(p, onnx_predictor.sample_rate) for p in _test_paths(tone_corpus)]
    check = check_fold(path, run.checkpoint_path(0), waves)
    tolerance = FP32_TOLERANCE if page.weights == "float32" else 1e-2
    assert check.clips == 16 and check.max_abs_diff <= tolerance
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    shape = crop_shape(onnx_predictor.features, onnx_predictor.inference)
    assert [i.name for i in session.get_inputs()] == ["crops"] and session.get_inputs()[0].shape[1:] == list(shape)
    for batch in (1, 5):
        probs = session.run(None, {"crops": np.zeros((batch, *shape), np.float32)})[0]
        assert probs.shape == (batch, len(run.classes())) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_a_file_that_is_not_its_checkpoint_is_caught(runs, page, tone_corpus):
    """The check compares: fold 0's file against fold 1's checkpoint differs well beyond the tolerance."""
    run = runs["2d"]
    waves = [load_audio(p, 44100) for p in _test_paths(tone_corpus, 6)]
    check = check_fold(page.manifest.parent / "2d_fold0.onnx", run.checkpoint_path(1), waves)
    assert check.max_abs_diff > 10 * FP32_TOLERANCE and check.top3_identical < 1


def test_shrunk_weights_halve_the_file_and_stay_float32_arithmetic(runs, tone_corpus, tmp_path):
    import onnx

    run = runs["1d"]
    full = export_fold(run.checkpoint_path(0), tmp_path / "full.onnx")
    info = shrink_weights(full, tmp_path / "half.onnx")
    assert info["tensors"] > 10 and info["bytes_after"] < 0.6 * info["bytes_before"]
    model = onnx.load(str(tmp_path / "half.onnx"))
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in model.graph.initializer)
    waves = [load_audio(p, 8000) for p in _test_paths(tone_corpus, 8)]
    check = check_fold(tmp_path / "half.onnx", run.checkpoint_path(0), waves)
    assert 0 < check.max_abs_diff < 1e-2


def test_export_for_page_writes_what_the_page_needs(runs, page):
    report = page
    manifest = json.loads(report.manifest.read_text())
    assert manifest["format"] == MANIFEST_FORMAT and manifest["combine"] == "mean"
    assert manifest["classes"] == list(runs["2d"].classes())
    assert [n["name"] for n in manifest["networks"]] == ["2d", "1d"]
    assert [n["input"] for n in manifest["networks"]] == ["feature", "waveform"]
    one_d = manifest["networks"][1]
    assert one_d["features"]["sample_rate"] == 8000 and one_d["crop"] == 4000 and one_d["input_shape"] == [1, 4000]
    assert manifest["networks"][0]["input_shape"][:2] == [1, 64]          # smoke 2D: 64 mels
    total = 0
    for net in manifest["networks"]:
        assert [f["fold"] for f in net["folds"]] == [0, 1] and net["weights"] == report.weights
        for f in net["folds"]:
            data = (report.manifest.parent / f["file"]).read_bytes()
            assert len(data) == f["bytes"] and hashlib.sha256(data).hexdigest() == f["sha256"]
            total += f["bytes"]
    assert manifest["bytes"]["models"] == total == report.bytes_models
    assert sorted(p.name for p in report.manifest.parent.glob("*.onnx")) == \
        ["1d_fold0.onnx", "1d_fold1.onnx", "2d_fold0.onnx", "2d_fold1.onnx"]
    for clip in manifest["clips"]:
        assert (report.manifest.parent / clip["file"]).is_file() and clip["label"] in manifest["classes"]
    assert len({c["label"] for c in manifest["clips"]}) == 3
    table = report.table()
    assert len(table) == 4 and (table["float32 max |diff|"] <= FP32_TOLERANCE).all()
    # the shipping rule: float16 only if every fold kept every clip's top 3
    assert (report.weights == "float16") == bool((table["float16 top-3 identical"] == 1.0).all())


def test_the_onnx_files_tag_files_like_predict(runs, page, tone_corpus):
    """OnnxPredictor is a predict_files loader: the page's files tag audio files as the checkpoints do."""
    folder = page.manifest.parent
    paths = _test_paths(tone_corpus, 6)
    both = [runs["2d"].path, runs["1d"].path]
    ref, _ = predict_files(paths, run=both)

    def onnx_loader(path, device=None):
        fold = int(path.parent.name.split("_")[1])
        return OnnxPredictor.for_checkpoint(folder / f"{path.parent.parent.name}_fold{fold}.onnx", path)

    got, _ = predict_files(paths, run=both, loader=onnx_loader)
    assert np.abs(got.probs - ref.probs).max() <= (FP32_TOLERANCE if page.weights == "float32" else 1e-2)


def test_export_refuses_what_the_page_cannot_compute(runs, tmp_path):
    with pytest.raises(ExportError, match="no completed folds"):
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "config.json").write_text((runs["1d"].path / "config.json").read_text())
        export_for_page([tmp_path / "empty"], tmp_path / "page", [])


def test_cli_export(runs, tone_corpus, tmp_path, capsys):
    from audiotag.cli import main

    assert main(["export", str(runs["1d"].path), "--dest", str(tmp_path / "page"), "--data", str(tone_corpus),
                 "--check-clips", "4", "--page-clips", "2", "--no-shrink"]) == 0
    out = capsys.readouterr().out
    assert "tagger.json" in out and "float32" in out
    manifest = json.loads((tmp_path / "page" / "tagger.json").read_text())
    assert len(manifest["clips"]) == 2 and manifest["networks"][0]["weights"] == "float32"
    assert RunDir(runs["1d"].path).completed_folds() == [0, 1]
