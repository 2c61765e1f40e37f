"""Chapter 7, *Tag your own audio*: the helpers the chapter's text uses and the solutions of its exercises.

How a trained run tags a clip of any length (:mod:`audiotag.inference`): the file is loaded at the model's rate and
mixed to mono, cut into evenly spaced windows (crops), each window is scored, the window probabilities are averaged,
then the folds of a run, then the runs. The functions below make each step visible.

Text helpers:

* :func:`player_wave` - a file at its own sample rate, mixed to mono, for a player;
* :func:`cached_loader` - load each checkpoint once for all the tagging calls of a notebook;
* :func:`describe_runs` - each run's network, input, rate, crop and window policy, from its checkpoints;
* :func:`window_starts`, :func:`predictor_windows`, :func:`window_probabilities`, :func:`window_figure` - the
  windows a :class:`~audiotag.inference.predictor.Predictor` scores and what each window says;
* :func:`fold_probabilities`, :func:`fold_table` - every fold's probabilities for one file, and their means;
* :func:`rank_of` - a class's place in a clip's ranking (ties broken as ``top_tags`` and MAP@3 break them);
* :func:`resampler_sensitivity` - how much the 1D-ConvNet's probabilities move with another resampler;
* :func:`shrink_verdict`, :func:`timing_sentence` - the export's float16 decision and the browser's measured time,
  in words, from the numbers;

Exercises (labels ``ex-tag-*``):

* ``ex-tag-windows``: :func:`window_table` - windows per clip length, the rule checked against the Predictor;
* ``ex-tag-networks``: :func:`compare_systems` - the top 3 of one network, of the other and of both;
* ``ex-tag-noise``: :func:`mix_at_snr`, :func:`noisy_versions`, :func:`tag_under_noise` - when does added noise
  change the top tag?;
* ``ex-tag-rank``: :func:`true_label_ranks` - where the true label sits in each file's ranking.
* ``ex-tag-own``: :func:`page_clip_tags` - ``predict`` on the page panel's test clips (the panel must agree); your
  own recordings are answered in words.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from audiotag.training.prediction_sets import Predictions

#: The networks' names in the book.
NETWORK_NAMES = {"conv1d": "1D-ConvNet", "inception2d": "2D-ConvNet", "baseline": "DCASE baseline"}


# ------------------------------------------------------------------------------------------------- text helpers
def rank_of(probs: np.ndarray, index: int) -> int:
    """The place (1 = top) of class ``index`` in a clip's ranking of all classes, ties broken by class order as
    :func:`~audiotag.inference.tagging.top_tags` and MAP@3 break them."""
    order = np.argsort(-np.asarray(probs, dtype=float), kind="stable")
    return int(np.flatnonzero(order == index)[0]) + 1


def player_wave(path: str | os.PathLike, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """``(wave, rate)``: the file at its OWN sample rate (no resampling), channels averaged to mono; with
    ``max_seconds`` only its beginning (a page stays light when it embeds long files)."""
    from audiotag.data.audio import audio_info, load_audio

    rate = int(audio_info(path).samplerate)
    wave = load_audio(path, rate)
    return (wave if max_seconds is None else wave[: max(1, int(max_seconds * rate))]), rate


def _feature_name(kind: str) -> str:
    from audiotag.book.plots import FEATURE_NAMES

    return FEATURE_NAMES.get(kind, kind)


def cached_loader(loader: Callable | None = None) -> Callable:
    """A checkpoint loader for ``predict_files(..., loader=...)`` (and the functions here that take one) that builds
    each checkpoint's predictor once and hands out the same one afterwards: a chapter that tags several times loads
    every model only once. ``loader``: the loader to wrap (default
    :func:`audiotag.inference.tagging.load_predictor`)."""
    from audiotag.inference import tagging

    cache: dict[tuple[str, str], object] = {}

    def load(path, device=None):
        key = (str(path), str(device))
        if key not in cache:
            cache[key] = (loader or tagging.load_predictor)(path, device)
        return cache[key]

    return load


def describe_runs(runs: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """One row per run, read from its first completed fold's checkpoint: network, input, sample rate (Hz), window
    (crop) length (s), window policy, most windows per clip, and the number of folds whose models are averaged."""
    from audiotag.training.checkpoint import load_checkpoint
    from audiotag.training.runs import RunDir

    rows = []
    for run in runs:
        r = RunDir(run)
        folds = r.completed_folds()
        if not folds:
            raise ValueError(f"run {r.name!r} has no completed fold")
        ckpt = load_checkpoint(r.checkpoint_path(folds[0]))
        inf = ckpt.inference
        rows.append({"run": r.name, "network": NETWORK_NAMES.get(ckpt.model_name, ckpt.model_name),
                     "input": _feature_name(ckpt.features.kind), "sample rate (Hz)": ckpt.features.sample_rate,
                     "window (s)": inf.crop_seconds,
                     "windows": "one, from the middle" if inf.mode == "center" else "evenly spaced",
                     "most windows per clip": 1 if inf.mode == "center" else (inf.n_crops or inf.max_crops),
                     "folds averaged": len(folds)})
    return pd.DataFrame(rows).set_index("run")


def window_starts(length: int, crop: int, mode: str = "windows", n_crops: int | None = None,
                  max_crops: int = 8) -> np.ndarray:
    """Where the windows of a clip start, in the units of ``length`` and ``crop`` (samples for a waveform model,
    feature frames for a spectral one): the rule of :meth:`audiotag.training.bank.ClipBank.window_crops`.

    A clip shorter than the crop counts as one crop long (it is repeated to fill it). The number of windows is
    ``W = ceil(2 L / n) - 1`` (so the hop is at most ``n / 2``: neighbours overlap by at least half a window), at
    least 1 and at most ``max_crops`` (or exactly ``n_crops``); they are spread evenly from the start to the end,
    ``hop = (L - n) / (W - 1)``.
    ``mode="center"``: one window from the middle."""
    length, crop = int(length), int(crop)
    if crop < 1 or length < 1:
        raise ValueError(f"length and crop must be positive, got {length} and {crop}")
    if mode == "center":
        return np.array([max(length - crop, 0) // 2])
    length = max(length, crop)
    k = n_crops if n_crops is not None else max(1, -(-2 * length // crop) - 1)
    k = max(1, min(k, max_crops))
    return np.linspace(0, length - crop, k).round().astype(np.int64)


def _units_per_second(predictor) -> float:
    cfg = predictor.features
    return float(cfg.sample_rate) if predictor.pipeline.is_waveform else cfg.sample_rate / cfg.hop_length


def predictor_windows(predictor, wave: np.ndarray):
    """The windows ``predictor`` scores for ``wave`` (a 1-D array at ``predictor.sample_rate``), taken from the clip
    bank exactly as :meth:`~audiotag.inference.predictor.Predictor.predict_waves` takes them.

    Returns ``(crops, starts_s, crop_s)``: the crops as the bank cuts them (a tensor ``(W, *item, n)``), where each
    starts in seconds according to :func:`window_starts`, and the window length in seconds."""
    from audiotag.training.bank import ClipBank

    inf = predictor.inference
    item = predictor.pipeline.clip_item(np.asarray(wave, dtype=np.float32))
    bank = ClipBank([item], predictor.device, short_clip=inf.short_clip)
    n = predictor.pipeline.crop_length(inf.crop_seconds)
    if inf.mode == "center":
        crops = bank.center_crops([0], n)
    else:
        crops = bank.window_crops([0], n, inf.n_crops, inf.max_crops).data
    starts = window_starts(int(item.shape[-1]), n, inf.mode, inf.n_crops, inf.max_crops)
    per_s = _units_per_second(predictor)
    return crops, starts / per_s, n / per_s


def window_probabilities(predictor, wave: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Each window's class probabilities: ``(starts_s, probs, crop_s)`` with ``probs`` of shape ``(W, n_classes)``.
    Their mean over the windows is what ``predictor.predict_waves([wave])`` returns for the clip."""
    import torch

    from audiotag.training.devices import autocast

    crops, starts, crop_s = predictor_windows(predictor, wave)
    with torch.no_grad(), autocast(predictor.device, predictor.amp_dtype):
        logits = predictor.model(predictor.pipeline.model_input(crops))
    probs = torch.softmax(logits.float(), dim=1).cpu().numpy()
    return starts, probs, crop_s


def window_figure(wave: np.ndarray, sample_rate: int, starts_s: Sequence[float], crop_s: float,
                  probs: np.ndarray | None = None, label: str | None = None, title: str | None = None) -> Figure:
    """A clip's waveform (time in s) with the windows a model scores drawn as shaded spans. With ``probs``
    (``(W,)``: each window's probability of ``label``) a second panel draws each window's probability as a segment
    over its span and their mean, the clip's probability, as a dashed line."""
    from audiotag.book.plots import _new

    wave = np.asarray(wave, dtype=np.float32)
    duration = len(wave) / float(sample_rate)
    fig = _new(8.0, 3.6 if probs is not None else 2.4)
    axes = fig.subplots(2 if probs is not None else 1, 1, sharex=True, squeeze=False)[:, 0]
    t = np.arange(len(wave)) / float(sample_rate)
    axes[0].plot(t, wave, color="0.35", linewidth=0.5)
    colors = ("tab:orange", "tab:blue")
    for i, s in enumerate(starts_s):
        axes[0].axvspan(s, s + crop_s, ymin=0.04 + 0.04 * (i % 2), ymax=0.96 - 0.04 * (i % 2),
                        color=colors[i % 2], alpha=0.18)
        axes[0].annotate(f"{i + 1}", (s + crop_s / 2, 1.0), xycoords=("data", "axes fraction"), ha="center",
                         va="bottom", fontsize=7, color=colors[i % 2])
    axes[0].set_ylabel("amplitude")
    axes[0].set_xlim(0, max(duration, max(s + crop_s for s in starts_s)))
    if probs is not None:
        p = np.asarray(probs, dtype=float)
        for i, (s, pi) in enumerate(zip(starts_s, p)):
            axes[1].hlines(pi, s, s + crop_s, color=colors[i % 2], linewidth=3)
        axes[1].axhline(float(p.mean()), color="k", linestyle="--", linewidth=1,
                        label=f"mean over {len(p)} windows: {p.mean():.2f}")
        axes[1].set_ylim(0, 1.05)
        axes[1].set_ylabel(f"p({label})" if label else "probability", fontsize=8)
        axes[1].legend(fontsize=8, loc="upper right")
    axes[-1].set_xlabel("time (s)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def fold_probabilities(path: str | os.PathLike, runs: Sequence[str | os.PathLike], device=None,
                       loader: Callable | None = None) -> dict[str, np.ndarray]:
    """Every completed fold's class probabilities for one audio file: ``{"run/fold_k": (n_classes,)}``, the file
    loaded at each model's own rate as :func:`audiotag.inference.tagging.predict_files` loads it."""
    from audiotag.data.audio import load_audio
    from audiotag.inference import tagging
    from audiotag.training.runs import RunDir

    load = loader or tagging.load_predictor
    out = {}
    for run in runs:
        r = RunDir(run)
        for k in r.completed_folds():
            predictor = load(r.checkpoint_path(k), device)
            wave = load_audio(path, int(predictor.sample_rate))
            out[f"{r.name}/fold_{k}"] = np.asarray(predictor.predict_waves([wave]))[0]
    return out


def fold_table(fold_probs: Mapping[str, np.ndarray], classes: Sequence[str],
               true_label: str | None = None) -> pd.DataFrame:
    """Rows: each fold, each run's mean over its folds, and the mean of the runs (equal weight per run), as
    :func:`~audiotag.inference.tagging.predict` combines them. Columns: the top tag and its probability, and, with
    ``true_label``, the true label's probability and rank (1 = top)."""
    classes = list(classes)
    by_run: dict[str, list[np.ndarray]] = {}
    for name, p in fold_probs.items():
        by_run.setdefault(name.split("/")[0], []).append(np.asarray(p, dtype=float))
    rows: dict[str, np.ndarray] = {name.replace("/fold_", ", fold "): np.asarray(p, dtype=float)
                                   for name, p in fold_probs.items()}
    runs = {f"{run}: mean of {len(ps)} folds": np.mean(ps, axis=0) for run, ps in by_run.items()}
    rows.update(runs)
    rows["both runs: mean of the run means"] = np.mean(list(runs.values()), axis=0)
    records = []
    for name, p in rows.items():
        best = int(np.argmax(p))
        rec = {"model": name, "top tag": classes[best], "p(top tag)": p[best]}
        if true_label is not None:
            j = classes.index(true_label)
            rec[f"p({true_label})"] = p[j]
            rec["rank of the true label"] = rank_of(p, j)
        records.append(rec)
    return pd.DataFrame(records).set_index("model")


# ------------------------------------------------------------------------------------------------------ exercises
def window_table(predictor, durations_s: Sequence[float], seed: int = 0) -> pd.DataFrame:
    """Exercise ``ex-tag-windows``: for clips of each duration (s), the windows :func:`window_starts` predicts, the
    windows the Predictor really cuts (counted in its clip bank), the hop between window starts (s) and whether
    the windows cover the whole clip. The clips are quiet noise (silence could be trimmed by some features)."""
    rng = np.random.default_rng(seed)
    rate = int(predictor.sample_rate)
    inf = predictor.inference
    per_s = _units_per_second(predictor)
    crop = predictor.pipeline.crop_length(inf.crop_seconds)
    rows = []
    for seconds in durations_s:
        wave = (0.1 * rng.standard_normal(max(1, int(round(seconds * rate))))).astype(np.float32)
        length = int(predictor.pipeline.clip_item(wave).shape[-1])
        starts = window_starts(length, crop, inf.mode, inf.n_crops, inf.max_crops)
        crops, _, _ = predictor_windows(predictor, wave)
        hop = float(np.diff(starts).mean()) / per_s if len(starts) > 1 else float("nan")
        covered = max(length, crop) <= crop if len(starts) == 1 else bool((np.diff(starts) <= crop).all())
        rows.append({"clip (s)": float(seconds), "windows (rule)": len(starts), "windows (Predictor)": len(crops),
                     "hop (s)": hop, "windows cover the clip": covered})
    return pd.DataFrame(rows).set_index("clip (s)")


def compare_systems(preds: Mapping[str, Predictions], truth: Mapping[str, str] | None = None,
                    top: int = 3) -> pd.DataFrame:
    """Exercise ``ex-tag-networks``: one row per file, for each system (e.g. ``{"1D-ConvNet": ..., "2D-ConvNet": ...,
    "both": ...}``, :class:`~audiotag.training.prediction_sets.Predictions` over the same files) its top ``top`` tags
    as text and, with ``truth`` (``file -> label``), the file's AP@3 credit (1, 1/2, 1/3 or 0). The mean of an AP@3
    column is that system's MAP@3 on these files."""
    from audiotag.training.metrics import average_precision_at_k

    names = list(preds)
    first = preds[names[0]]
    files = list(first.fnames)
    out = pd.DataFrame(index=pd.Index([os.path.basename(str(f)) for f in files], name="file"))
    if truth:
        out["true label"] = [truth.get(f) for f in files]
    for name in names:
        p = preds[name].align(files)
        out[f"{name}: top {top}"] = [", ".join(tags) for tags in p.top_labels(top)]
        if truth:
            known = [f in truth for f in files]
            targets = np.array([p.classes.index(truth[f]) if k else 0 for f, k in zip(files, known)])
            ap = average_precision_at_k(p.probs, targets, 3).astype(float)
            out[f"{name}: AP@3"] = np.where(known, ap, np.nan)
    return out


def mix_at_snr(signal: np.ndarray, snr_db: float, seed: int | np.random.Generator = 0) -> np.ndarray:
    """Exercise ``ex-tag-noise``: ``signal`` plus white Gaussian noise scaled so that the signal-to-noise ratio
    ``10 log10(P_signal / P_noise)`` (powers = mean squares) is exactly ``snr_db`` dB."""
    x = np.asarray(signal, dtype=np.float64)
    p_signal = float(np.mean(x ** 2))
    if p_signal == 0:
        raise ValueError("a silent signal has no signal-to-noise ratio")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    noise = rng.standard_normal(x.shape)
    noise *= np.sqrt(p_signal / (10 ** (snr_db / 10)) / np.mean(noise ** 2))
    return (x + noise).astype(np.float32)


def noisy_versions(wave: np.ndarray, snrs_db: Sequence[float], seed: int = 0) -> dict[str, np.ndarray]:
    """Exercise ``ex-tag-noise``: ``{"clean": wave, "20 dB": ..., ...}``, the i-th SNR mixed by :func:`mix_at_snr`
    with seed ``seed + i`` (so a player can play exactly the versions :func:`tag_under_noise` tags)."""
    versions = {"clean": np.asarray(wave, dtype=np.float32)}
    for i, snr in enumerate(snrs_db):
        versions[f"{snr:g} dB"] = mix_at_snr(wave, snr, seed + i)
    return versions


def tag_under_noise(wave: np.ndarray, sample_rate: int, runs, snrs_db: Sequence[float] = (20, 10, 0, -10),
                    true_label: str | None = None, seed: int = 0, loader: Callable | None = None,
                    device=None) -> pd.DataFrame:
    """Exercise ``ex-tag-noise``: tag ``wave`` (at ``sample_rate`` Hz) clean and mixed with white noise at each SNR
    (dB) (:func:`noisy_versions`), all in one :func:`audiotag.inference.tagging.predict_files` call (the versions
    are written as float WAV files to a temporary folder, so they take the same path as your own files).

    One row per version (``clean``, ``20 dB``, ...): the top tag, its probability, the clean version's top tag's
    probability, whether the top tag changed, and with ``true_label`` the true label's rank."""
    from audiotag.data.audio import write_audio
    from audiotag.inference.tagging import predict_files

    versions = noisy_versions(wave, snrs_db, seed)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, (name, w) in enumerate(versions.items()):
            paths.append(Path(tmp) / f"{i:02d}.wav")
            write_audio(paths[-1], w, sample_rate, subtype="FLOAT")
        preds, failures = predict_files(paths, run=runs, device=device, loader=loader)
        if failures:
            raise RuntimeError(f"could not tag the noisy versions: {failures[0]}")
        probs = preds.align([str(p) for p in paths]).probs
    classes = list(preds.classes)
    clean_top = int(np.argmax(probs[0]))
    rows = []
    for name, p in zip(versions, probs):
        best = int(np.argmax(p))
        row = {"version": name, "top tag": classes[best], "p(top tag)": float(p[best]),
               f"p({classes[clean_top]})": float(p[clean_top]), "top tag changed": best != clean_top}
        if true_label is not None:
            j = classes.index(true_label)
            row["rank of the true label"] = rank_of(p, j)
        rows.append(row)
    return pd.DataFrame(rows).set_index("version")


def true_label_ranks(preds: Predictions, truth: Mapping[str, str]) -> pd.DataFrame:
    """Exercise ``ex-tag-rank``: for every file with a known label, the true label's rank in the file's ranking of
    all classes (1 = the top tag), its probability, the top tag, and the AP@3 credit ``1 / rank`` if the rank is at
    most 3, else 0 (the mean of that column is MAP@3 over these files)."""
    rows = []
    for f, p in zip(preds.fnames, preds.probs):
        if f not in truth:
            continue
        j = preds.classes.index(truth[f])
        rank = rank_of(p, j)
        rows.append({"file": os.path.basename(str(f)), "true label": truth[f], "rank": rank,
                     "p(true label)": float(p[j]), "top tag": preds.classes[int(np.argmax(p))],
                     "AP@3": 1.0 / rank if rank <= 3 else 0.0})
    return pd.DataFrame(rows).set_index("file")




# --------------------------------------------------------------------------------------------- tag it here (page)
def resampler_sensitivity(files: Sequence[str | os.PathLike], run, loader: Callable | None = None) -> pd.DataFrame:
    """Each readable file tagged by ``run`` (its folds averaged) twice: on audio resampled by the package's filter
    (:func:`audiotag.data.audio.resample`, what the page computes too) and by ``scipy.signal.resample_poly``'s
    default filter (Kaiser, beta 5, 10 zero crossings per side). One row per file: the top tag, its probability both
    ways, and the largest difference over the 41 classes."""
    from math import gcd

    from scipy.signal import resample_poly

    from audiotag.data.audio import AudioError, load_audio
    from audiotag.inference import tagging
    from audiotag.training.runs import RunDir

    load = loader or tagging.load_predictor
    r = RunDir(run)
    predictors = [load(r.checkpoint_path(k), None) for k in r.completed_folds()]
    rate = int(predictors[0].sample_rate)
    rows = []
    for f in files:
        try:
            native, native_rate = player_wave(f)
            ours = load_audio(f, rate)
        except (AudioError, RuntimeError, ValueError):
            continue                                  # an unreadable file: reported elsewhere in the chapter
        g = gcd(native_rate, rate)
        theirs = resample_poly(native.astype(np.float64), rate // g, native_rate // g).astype(np.float32)
        p_ours = np.mean([p.predict_waves([ours])[0] for p in predictors], axis=0)
        p_theirs = np.mean([p.predict_waves([theirs])[0] for p in predictors], axis=0)
        top = int(np.argmax(p_ours))
        rows.append({"file": Path(f).name, "top tag": predictors[0].classes[top], "p (our filter)": p_ours[top],
                     "p (scipy's default)": p_theirs[top], "largest difference": float(np.abs(p_ours - p_theirs).max()),
                     "same top tag": bool(np.argmax(p_theirs) == top)})
    return pd.DataFrame(rows)


def shrink_verdict(table: pd.DataFrame, weights: str) -> str:
    """The export's float16 decision in a sentence, from its table (columns of
    :meth:`audiotag.inference.onnx_export.ExportReport.table`)."""
    full = table["float32 MB"].sum()
    if "float16 MB" not in table:
        return f"The page gets the float32 files ({full:.1f} MB); float16 weights were not tried."
    half, worst = table["float16 MB"].sum(), table["float16 max |diff|"].max()
    same = table["float16 top-3 identical"].min()
    verdict = ("Every clip kept its top 3, so the page gets the float16 files." if weights == "float16" else
               "Not every clip kept its top 3, so the page gets the float32 files.")
    return (f"float32: {full:.1f} MB, largest difference from PyTorch {table['float32 max |diff|'].max():.1e}. "
            f"float16 would be {half:.1f} MB, with differences up to {worst:.4f} and the same top 3 (in order) on "
            f"{same:.1%} of the test clips for the worst fold. {verdict}")


def timing_sentence(timing: Mapping | None) -> str:
    """The measured time to tag a 10 s clip in the browser and with ``audiotag predict``, in words."""
    if not timing:
        return ("The time to tag a clip in the browser has not been measured on this machine yet "
                "(benchmarks/tagger_browser.py measures it).")
    return (f"Measured on {timing['machine']} ({timing['profile']} profile networks, {timing['chromium']}): tagging "
            f"a {timing['clip_seconds']:g} s clip took {timing['browser_seconds']:.2f} s in the browser and "
            f"{timing['predict_seconds']:.2f} s with `audiotag predict` ({timing['predict_what']}), "
            f"on {timing['date']}.")


def page_clip_tags(manifest: str | os.PathLike, runs) -> pd.DataFrame:
    """``predict`` in float32 (each run's folds averaged, runs averaged) on the test clips the page's manifest lists:
    the numbers its panel must show (the page computes in float32; bf16 autocast would move them by about 1e-3)."""
    import json

    from audiotag.inference.tagging import predict_files, top_tags

    manifest = Path(manifest)
    clips = json.loads(manifest.read_text())["clips"]
    paths = [str(manifest.parent / c["file"]) for c in clips]
    preds, _ = predict_files(paths, run=list(runs), precision="fp32")
    table = top_tags(preds, 3)
    labels = {str(manifest.parent / c["file"]): c.get("label") for c in clips}
    table.insert(1, "true label", [labels.get(f) for f in table["file"]])
    table["file"] = [Path(f).name for f in table["file"]]
    return table.rename(columns={f"{k}_{i}": f"{'tag' if k == 'tag' else 'p'} {i}" for k in ("tag", "prob")
                                 for i in (1, 2, 3)})
