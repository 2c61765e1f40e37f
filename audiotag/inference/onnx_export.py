"""The trained networks as ONNX files for the book's page (chapter 7, *Tag it here*), checked against torch.

The page tags a reader's sound in the browser: it computes each network's input with the explorers' JavaScript
(``static/explorers/dsp.js``: the resampler, the log-mel of the whole clip, the windows), then runs every fold's
network with onnxruntime-web (``static/tagger/``). What runs in ONNX is one window's path through the network, the
part of :func:`audiotag.training.validation.predict_bank` after the clip bank:

    crops (as the bank holds them) -> per-crop normalisation / standardisation / resize -> network -> softmax

(:class:`PageModel`). :func:`export_fold` writes one fold with ``torch.onnx.export``; :class:`OnnxPredictor` scores
waveforms with such a file exactly as :class:`~audiotag.inference.predictor.Predictor` does with the checkpoint
(same bank, same windows, same averages), so :func:`check_fold` can compare the two on real clips: class
probabilities equal within :data:`FP32_TOLERANCE` in float32.

The page downloads every fold of both networks, so the weights may be *shrunk* to float16 (:func:`shrink_weights`):
every large float32 weight is stored in half precision and cast back to float32 when the session loads (the
arithmetic stays float32). That halves the download and moves probabilities by about 1e-3; :func:`export_for_page`
checks a shrunk file on every given clip (the whole test set in the book) and keeps it only when every clip's top-3
labels are those of the float32 network, else it ships float32. :func:`export_for_page` also writes the page's
manifest ``tagger.json`` (what the JavaScript needs: classes, feature settings, crops, windows, files, sizes).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from audiotag.features.config import FeatureConfig
from audiotag.fileio import atomic_path
from audiotag.training.bank import ClipBank, average_windows
from audiotag.training.checkpoint import load_checkpoint
from audiotag.training.config import InferenceConfig
from audiotag.training.pipeline import InputPipeline
from audiotag.training.validation import evaluation_crops

#: The page's manifest format (``tagger.json``).
MANIFEST_FORMAT = "audiotag-page-models/1"
#: Largest difference of class probabilities allowed between a float32 ONNX file and its checkpoint in torch.
FP32_TOLERANCE = 1e-4
#: Weights with at least this many numbers are stored as float16 by :func:`shrink_weights` (biases and
#: BatchNorm statistics stay float32: they are few, and the most sensitive).
SHRINK_MIN_ELEMENTS = 1024
#: Crops per ``session.run`` in :class:`OnnxPredictor` (the page scores 8 at a time as well).
ONNX_BATCH = 8
#: How the page names the networks of :data:`audiotag.models.MODEL_NAMES`.
NETWORK_TITLES = {"conv1d": "1D-ConvNet", "inception2d": "2D-ConvNet", "baseline": "DCASE baseline"}


class ExportError(RuntimeError):
    """An export that failed or a file that does not match its checkpoint; the message names the file."""


class PageModel(torch.nn.Module):
    """One window's path through a trained network, as the page runs it: bank crops in, probabilities out.

    Input: ``(B, 1, N)`` waveform crops or ``(B, C, F, T)`` dB feature crops (cut from the whole clip's feature, as
    the clip bank holds them); output: ``(B, n_classes)`` softmax probabilities. The same two calls as
    :func:`~audiotag.training.validation.predict_bank`: ``pipeline.model_input`` then the network.
    """

    def __init__(self, model: torch.nn.Module, pipeline: InputPipeline):
        super().__init__()
        self.model = model
        self.pipeline = pipeline

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(self.pipeline.model_input(crops)).float(), dim=1)


def crop_shape(features: FeatureConfig, inference: InferenceConfig) -> tuple[int, ...]:
    """The shape of one crop as the bank cuts it (no batch axis): ``(1, N)`` samples or ``(C, F, T)`` frames."""
    pipeline = InputPipeline(features)
    n = pipeline.crop_length(inference.crop_seconds)
    if pipeline.is_waveform:
        return (1, n)
    from audiotag.features.spectral import samples_for

    c, f, _ = pipeline.extractor.feature_shape(samples_for(features, n))
    return (c, f, n)


def export_fold(checkpoint: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Write the checkpoint's :class:`PageModel` to ``dest`` (ONNX, float32, one file, a dynamic batch axis).

    ``torch.onnx.export`` (the ``torch.export`` based exporter, with onnxscript) traces the model on two crops;
    the file is written atomically. Raises :class:`ExportError` naming the checkpoint when the export fails.
    """
    ckpt = load_checkpoint(checkpoint)
    model = PageModel(ckpt.build_model("cpu"), InputPipeline(ckpt.features)).eval()
    example = _example_crops(ckpt.features, ckpt.inference, 2)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with atomic_path(dest, suffix=".onnx") as tmp, _quiet_exporter():
            torch.onnx.export(model, (example,), str(tmp), input_names=["crops"], output_names=["probs"],
                              dynamo=True, external_data=False, optimize=True, verbose=False,
                              dynamic_shapes={"crops": {0: torch.export.Dim("batch", min=1, max=4096)}})
    except Exception as exc:
        raise ExportError(f"{checkpoint}: torch.onnx.export failed ({type(exc).__name__}: {exc})") from exc
    return dest


def _example_crops(features: FeatureConfig, inference: InferenceConfig, batch: int) -> torch.Tensor:
    """Plausible crops for tracing: quiet noise for waveforms, dB values around -40 for features."""
    gen = torch.Generator().manual_seed(0)
    shape = (batch, *crop_shape(features, inference))
    if features.kind == "waveform":
        return 0.1 * torch.randn(shape, generator=gen)
    return -40.0 + 10.0 * torch.randn(shape, generator=gen)


@contextlib.contextmanager
def _quiet_exporter():
    """Silence the exporter's progress lines ("[torch.onnx] ... ✅") and its warnings about optional packages."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def shrink_weights(source: str | os.PathLike, dest: str | os.PathLike,
                   min_elements: int = SHRINK_MIN_ELEMENTS) -> dict:
    """Store the large float32 weights of an ONNX file as float16, each followed by a ``Cast`` back to float32.

    The graph computes in float32 as before (onnxruntime folds the casts when the session loads); only the file
    shrinks. Returns ``{"tensors": shrunk, "bytes_before": ..., "bytes_after": ...}``.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    kept, casts, shrunk = [], [], 0
    for init in graph.initializer:
        if init.data_type != TensorProto.FLOAT or int(np.prod(init.dims)) < min_elements:
            kept.append(init)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), f"{init.name}__fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT,
                                      name=f"{init.name}__to_fp32"))
        shrunk += 1
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    dest = Path(dest)
    with atomic_path(dest, suffix=".onnx") as tmp:
        onnx.save(model, str(tmp))
    return {"tensors": shrunk, "bytes_before": Path(source).stat().st_size, "bytes_after": dest.stat().st_size}


class OnnxPredictor:
    """An exported fold as a function from waveforms to class probabilities, the way the page computes them.

    Same interface as :class:`~audiotag.inference.predictor.Predictor` (``classes``, ``sample_rate``,
    ``predict_waves``), so it works as a ``loader`` of :func:`audiotag.inference.tagging.predict_files`. The clip
    bank, the windows and the averages are the Predictor's; only the network runs in onnxruntime.
    """

    def __init__(self, onnx_path: str | os.PathLike, classes, features: FeatureConfig, inference: InferenceConfig):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.path = Path(onnx_path)
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.classes = tuple(classes)
        self.features = features
        self.inference = inference
        self.pipeline = InputPipeline(features)

    @classmethod
    def for_checkpoint(cls, onnx_path, checkpoint) -> "OnnxPredictor":
        ckpt = load_checkpoint(checkpoint)
        return cls(onnx_path, ckpt.classes, ckpt.features, ckpt.inference)

    @property
    def sample_rate(self) -> int:
        return self.features.sample_rate

    def predict_waves(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        if len(waves) == 0:
            return np.zeros((0, len(self.classes)), dtype=np.float32)
        bank = ClipBank([self.pipeline.clip_item(w) for w in waves], "cpu", short_clip=self.inference.short_clip)
        n = self.pipeline.crop_length(self.inference.crop_seconds)
        crops, owner = evaluation_crops(bank, torch.arange(len(bank)), n, self.inference)
        crops = crops.float().numpy()
        probs = [self.session.run(None, {self.input_name: crops[b:b + ONNX_BATCH]})[0]
                 for b in range(0, len(crops), ONNX_BATCH)]
        return average_windows(torch.from_numpy(np.concatenate(probs)), owner, len(bank)).numpy()


@dataclass
class FoldCheck:
    """How an ONNX file compares with its checkpoint on some clips."""

    clips: int
    max_abs_diff: float          # largest |p_onnx - p_torch| over clips and classes
    top3_identical: float        # share of clips whose top-3 labels (in order) are the same
    torch_seconds: float
    onnx_seconds: float


def check_fold(onnx_path, checkpoint, waves: Sequence[np.ndarray], reference: np.ndarray | None = None) -> FoldCheck:
    """Score ``waves`` (at the model's rate) with the ONNX file and with the checkpoint in torch (float32, CPU).

    ``reference``: the torch probabilities when already computed (they are the same for a shrunk file)."""
    from audiotag.inference.predictor import Predictor

    t0 = time.perf_counter()
    if reference is None:
        reference = Predictor.from_checkpoint(checkpoint, device="cpu", precision="fp32").predict_waves(list(waves))
    t1 = time.perf_counter()
    got = OnnxPredictor.for_checkpoint(onnx_path, checkpoint).predict_waves(list(waves))
    t2 = time.perf_counter()
    same = (np.argsort(-reference, axis=1, kind="stable")[:, :3] == np.argsort(-got, axis=1, kind="stable")[:, :3])
    return FoldCheck(len(waves), float(np.abs(got - reference).max()), float(same.all(axis=1).mean()),
                     round(t1 - t0, 3), round(t2 - t1, 3))


# ----------------------------------------------------------------------------------------------- the page's files
@dataclass
class ExportReport:
    """What :func:`export_for_page` wrote and measured: one row per fold, the manifest, the total bytes."""

    manifest: Path
    rows: list[dict] = field(default_factory=list)
    bytes_models: int = 0
    weights: str = "float32"
    seconds: float = 0.0

    def table(self):
        import pandas as pd

        return pd.DataFrame(self.rows)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _json_ready(value):
    if isinstance(value, tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    return value


def export_for_page(runs: Sequence[str | os.PathLike], dest: str | os.PathLike, check_paths: Sequence[str],
                    shrink: bool = True, clips: Sequence[dict] | None = None,
                    progress: bool = False) -> ExportReport:
    """Export every completed fold of ``runs`` into ``dest`` with the page's manifest ``dest/tagger.json``.

    Each fold is exported (:func:`export_fold`) and checked on the audio files ``check_paths`` against its
    checkpoint: probabilities within :data:`FP32_TOLERANCE`, else :class:`ExportError`. With ``shrink``, a float16
    copy (:func:`shrink_weights`) is checked on the same files and kept when every file's top-3 labels equal the
    float32 network's, for every fold; otherwise the page gets the float32 files (the report says which).
    ``clips``: test clips the page offers (``{"path", "label", "fname"}``), copied as WAV into ``dest/clips/``.
    """
    from audiotag.data.audio import load_audio, write_audio
    from audiotag.inference.predictor import Predictor
    from audiotag.training.runs import RunDir

    start = time.perf_counter()
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    run_dirs = [RunDir(r) for r in runs]
    networks, rows = [], []
    classes = None
    all_shrunk_ok = shrink
    plans = []
    for run in run_dirs:
        folds = run.completed_folds()
        if not folds:
            raise ExportError(f"{run.path}: the run has no completed folds to export")
        ckpt = load_checkpoint(run.checkpoint_path(folds[0]))
        if classes is None:
            classes = ckpt.classes
        elif ckpt.classes != classes:
            raise ExportError(f"{run.path}: its classes differ from those of {run_dirs[0].path}")
        if ckpt.features.trim_silence:
            raise ExportError(f"{run.path}: trim_silence=True is not computed by the page's JavaScript")
        waves = [load_audio(p, ckpt.features.sample_rate) for p in check_paths]
        plans.append((run, folds, ckpt, waves))

    for run, folds, ckpt, waves in plans:
        fold_files = []
        for k in folds:
            checkpoint = run.checkpoint_path(k)
            full = dest / f"{run.name}_fold{k}.fp32.onnx"
            export_fold(checkpoint, full)
            reference = Predictor.from_checkpoint(checkpoint, device="cpu", precision="fp32").predict_waves(waves)
            check = check_fold(full, checkpoint, waves, reference)
            if check.max_abs_diff > FP32_TOLERANCE:
                raise ExportError(f"{full}: probabilities differ from {checkpoint} by {check.max_abs_diff:.2e} "
                                  f"(> {FP32_TOLERANCE:g}) on {check.clips} clips")
            row = {"network": NETWORK_TITLES.get(ckpt.model_name, ckpt.model_name), "run": run.name, "fold": k,
                   "float32 MB": full.stat().st_size / 1e6, "float32 max |diff|": check.max_abs_diff,
                   "clips checked": check.clips}
            if shrink:
                half = dest / f"{run.name}_fold{k}.fp16.onnx"
                info = shrink_weights(full, half)
                hcheck = check_fold(half, checkpoint, waves, reference)
                row.update({"float16 MB": info["bytes_after"] / 1e6, "float16 max |diff|": hcheck.max_abs_diff,
                            "float16 top-3 identical": hcheck.top3_identical})
                all_shrunk_ok &= hcheck.top3_identical == 1.0
            rows.append(row)
            fold_files.append((k, full))
            if progress:
                print(f"exported {run.name} fold {k}: max |diff| {check.max_abs_diff:.1e}", flush=True)
        networks.append((run, ckpt, fold_files))

    weights = "float16" if all_shrunk_ok else "float32"
    manifest_networks, total = [], 0
    for run, ckpt, fold_files in networks:
        entries = []
        for k, full in fold_files:
            half = full.with_name(full.name.replace(".fp32.onnx", ".fp16.onnx"))
            chosen, other = (half, full) if weights == "float16" else (full, half)
            final = dest / f"{run.name}_fold{k}.onnx"
            os.replace(chosen, final)
            other.unlink(missing_ok=True)
            size = final.stat().st_size
            total += size
            entries.append({"fold": k, "file": final.name, "bytes": size, "sha256": _sha256(final)})
        pipeline = InputPipeline(ckpt.features)
        manifest_networks.append({
            "name": run.name, "model": ckpt.model_name, "title": NETWORK_TITLES.get(ckpt.model_name, ckpt.model_name),
            "input": "waveform" if pipeline.is_waveform else "feature",
            "features": _json_ready(ckpt.features.to_dict()),
            "crop": pipeline.crop_length(ckpt.inference.crop_seconds),
            "crop_seconds": ckpt.inference.crop_seconds, "inference": _json_ready(asdict(ckpt.inference)),
            "input_shape": list(crop_shape(ckpt.features, ckpt.inference)), "weights": weights, "folds": entries})

    clip_entries = []
    for clip in clips or []:
        rel = Path("clips") / (Path(clip["fname"]).stem + ".wav")
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        wave, rate = _native_wave(clip["path"])
        if Path(clip["path"]).suffix.lower() == ".wav":
            shutil.copyfile(clip["path"], dest / rel)       # the very bytes `audiotag predict` reads
        else:
            write_audio(dest / rel, wave, rate)
        clip_entries.append({"file": rel.as_posix(), "label": clip.get("label"), "fname": clip["fname"],
                             "seconds": round(len(wave) / rate, 3), "bytes": (dest / rel).stat().st_size})

    from audiotag.data.audio import RESAMPLE_ATTENUATION_DB, RESAMPLE_PASSBAND, RESAMPLE_STOPBAND

    manifest = {"format": MANIFEST_FORMAT, "classes": list(classes), "combine": "mean",
                "resampler": {"passband": RESAMPLE_PASSBAND, "stopband": RESAMPLE_STOPBAND,
                              "attenuation_db": RESAMPLE_ATTENUATION_DB},
                "networks": manifest_networks, "clips": clip_entries, "bytes": {"models": total}}
    path = dest / "tagger.json"
    with atomic_path(path, suffix=".json") as tmp:
        Path(tmp).write_text(json.dumps(manifest, indent=1))
    for row in rows:
        row["shipped"] = weights
    return ExportReport(path, rows, total, weights, round(time.perf_counter() - start, 1))


def page_clips(table, n: int = 6, seed: int = 0) -> list[dict]:
    """``n`` clips of a dataset table (``fname``, ``path``, ``label``) for the page's list: different labels first,
    a fixed seed, sorted by label."""
    import pandas as pd

    if n <= 0 or table is None or len(table) == 0:
        return []
    shuffled = table.sample(frac=1.0, random_state=seed)
    picks = shuffled.drop_duplicates("label").head(n)
    if len(picks) < n:
        picks = pd.concat([picks, shuffled.drop(picks.index).head(n - len(picks))])
    picks = picks.sort_values(["label", "fname"])
    return [{"path": str(r.path), "label": str(r.label), "fname": str(r.fname)} for r in picks.itertuples()]


def _native_wave(path) -> tuple[np.ndarray, int]:
    """A clip as stored (mono, its own rate), for the page's list of test clips."""
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data.mean(axis=1), int(rate)
