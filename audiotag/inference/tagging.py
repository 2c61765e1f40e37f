"""Tag your own audio with trained runs: files or folders in, the top labels with their probabilities out.

::

    table, failures = audiotag.predict(["my_sounds/"], run="runs/cpu-2d")
    table, failures = audiotag.predict(["a.flac"], run=["runs/2d", "runs/1d"],
                                       ensemble="geometric; best=2d=5,1d=3; weights=3,3,2,2,2,1,1,1")

Each fold of a run left a checkpoint that carries its model *and* its preprocessing
(:class:`audiotag.inference.predictor.Predictor`). Every file is loaded at each model's own sample rate (any format
soundfile reads, any rate, any number of channels: mixed to mono and resampled by
:func:`audiotag.data.audio.load_audio`), long clips are scored over windows inside the predictor, and:

* without ``ensemble``: the fold models of each run are averaged (arithmetic mean of probabilities), then the runs
  are averaged with equal weight;
* with ``ensemble`` (an :class:`~audiotag.evaluation.ensembles.EnsembleSpec` or its text): members are selected as for the test
  set (``best=RUN=K``) and combined with ``mean`` or ``geometric``, weighted by ``weights``.

Rank averaging is refused: it ranks each class's scores across a whole test set, which means nothing for a
handful of files (a single file has no rank at all). Stacking is refused too: use the ``ensemble`` command to
evaluate it on the test set. Ask for ``mean`` or ``geometric`` instead.

A file that cannot be read is reported (path and our :class:`~audiotag.data.audio.AudioError` reason) and skipped; the
other files still get their tags.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from audiotag.data.audio import AudioError, load_audio
from audiotag.evaluation.ensembles import (COMBINERS, EnsembleError, EnsembleSpec, as_runs, check_runs_compatible,
                                           select_members)
from audiotag.training.prediction_sets import Predictions, PredictionsError
from audiotag.training.runs import RunDir

#: Extensions searched for inside folders (files named explicitly are always tried).
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif")
#: Searched as well when the installed libsndfile decodes MP3 (version 1.1 and later).
MP3_EXTENSION = ".mp3"
#: Files loaded and scored together (bounds memory on large folders).
FILES_PER_BATCH = 16
#: Ensemble methods that make sense for a few files.
PREDICT_METHODS = ("mean", "geometric")


@dataclass(frozen=True)
class PredictFailure:
    """A file (or path) that got no tags, and why."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def audio_extensions() -> tuple[str, ...]:
    """Extensions looked for in folders: :data:`AUDIO_EXTENSIONS`, plus ``.mp3`` if soundfile can decode it."""
    import soundfile as sf

    return AUDIO_EXTENSIONS + ((MP3_EXTENSION,) if "MP3" in sf.available_formats() else ())


def find_audio(paths: Sequence[str | os.PathLike] | str | os.PathLike) -> tuple[list[Path], list[PredictFailure]]:
    """Expand files and folders (recursively, audio extensions only, sorted) into a list of files.

    Returns the files and the paths that gave none (missing, or a folder without audio).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    extensions = audio_extensions()
    files: list[Path] = []
    failures: list[PredictFailure] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in extensions)
            if not found:
                failures.append(PredictFailure(str(p), f"no audio files in this folder (looked for "
                                                       f"{', '.join(extensions)})"))
            files += found
        elif p.exists():
            files.append(p)
        else:
            failures.append(PredictFailure(str(p), "file not found"))
    unique = list(dict.fromkeys(files))
    return unique, failures


def load_predictor(path: str | os.PathLike, device=None, precision: str = "auto"):
    """The real loader: :meth:`audiotag.inference.predictor.Predictor.from_checkpoint`."""
    from audiotag.inference.predictor import Predictor

    return Predictor.from_checkpoint(path, device=device, precision=precision)


@dataclass
class _Member:
    run: str
    weight: float
    predictor: object


def _members(runs: list[RunDir], spec: EnsembleSpec | None, device, loader: Callable) -> tuple[list[_Member], str]:
    """Load the predictors, each with its weight, and the method that combines them."""
    if spec is None:
        # Each run's folds averaged, runs weighted equally: fold weight 1 / (n_runs * n_folds of its run).
        members = []
        for r in runs:
            folds = r.completed_folds()
            if not folds:
                raise EnsembleError(f"run {r.name!r} has no completed folds")
            members += [_Member(r.name, 1.0 / len(folds), loader(r.checkpoint_path(k), device)) for k in folds]
        return members, "mean"
    if spec.method not in PREDICT_METHODS:
        why = ("rank averaging ranks each class's scores across a whole test set and means nothing for a few files"
               if spec.method == "rank" else "stacking is evaluated on the test set with the 'ensemble' command")
        raise EnsembleError(f"ensemble method {spec.method!r} is not available for tagging files: {why}; "
                            f"use one of {', '.join(PREDICT_METHODS)}")
    selected = select_members(runs, spec)
    return [_Member(m.run.name, m.weight, loader(m.run.checkpoint_path(m.fold), device)) for m in selected], spec.method


def predict_files(paths, run=None, ensemble: EnsembleSpec | str | None = None, device=None,
                  loader: Callable | None = None, precision: str = "auto") -> tuple[Predictions, list[PredictFailure]]:
    """Class probabilities for every readable file: a :class:`Predictions` whose ``fnames`` are the file paths.

    ``run``: a run directory or a list of them (or ``None`` when the ensemble spec lists ``runs=``).
    ``loader(checkpoint_path, device)`` builds a predictor (default :func:`load_predictor` with ``precision``:
    ``auto`` is bf16 autocast on CPUs with native bf16, ``fp32`` computes as the book's page does); any object with
    ``classes``, ``sample_rate`` and ``predict_waves(list of arrays) -> (n, n_classes)`` works.
    """
    spec = EnsembleSpec.parse(ensemble) if isinstance(ensemble, str) else ensemble
    if run is None or (isinstance(run, (list, tuple)) and not run):
        run = list(spec.runs) if spec is not None else []
    if not run:
        raise EnsembleError("no run given: pass run=... (or runs=... in the ensemble spec)")
    runs = as_runs(run)
    classes = check_runs_compatible(runs)
    if loader is None:
        def loader(path, device=None):
            return load_predictor(path, device, precision)
    members, method = _members(runs, spec, device, loader)
    for m in members:
        if tuple(m.predictor.classes) != classes:
            raise PredictionsError(f"a checkpoint of run {m.run!r} predicts classes that differ from the run's config")

    files, failures = find_audio(paths)
    names: list[str] = []
    blocks: list[np.ndarray] = []
    rates = sorted({int(m.predictor.sample_rate) for m in members})
    weights = [m.weight for m in members]
    for start in range(0, len(files), FILES_PER_BATCH):
        waves_by_rate: dict[int, list[np.ndarray]] = {rate: [] for rate in rates}
        good: list[Path] = []
        for f in files[start:start + FILES_PER_BATCH]:
            try:
                loaded = {rate: load_audio(f, rate) for rate in rates}
            except AudioError as exc:
                failures.append(PredictFailure(str(f), exc.reason))
                continue
            good.append(f)
            for rate, wave in loaded.items():
                waves_by_rate[rate].append(wave)
        if not good:
            continue
        probs = [np.asarray(m.predictor.predict_waves(waves_by_rate[int(m.predictor.sample_rate)]))
                 for m in members]
        blocks.append(COMBINERS[method](probs, weights))
        names += [str(f) for f in good]
    probs = np.concatenate(blocks) if blocks else np.zeros((0, len(classes)))
    return Predictions(np.asarray(names, dtype=str), probs, classes, "predict"), failures


def top_tags(preds: Predictions, top: int = 3) -> pd.DataFrame:
    """One row per file: ``file``, then ``tag_1``, ``prob_1``, ..., ``tag_k``, ``prob_k`` (best first)."""
    if not 1 <= top <= len(preds.classes):
        raise ValueError(f"top must be between 1 and {len(preds.classes)}, got {top}")
    order = np.argsort(-preds.probs, axis=1, kind="stable")[:, :top]
    data: dict[str, object] = {"file": preds.fnames}
    for i in range(top):
        data[f"tag_{i + 1}"] = [preds.classes[j] for j in order[:, i]]
        data[f"prob_{i + 1}"] = np.take_along_axis(preds.probs, order[:, i:i + 1], axis=1)[:, 0].astype(float)
    return pd.DataFrame(data)


def predict(paths, run=None, ensemble: EnsembleSpec | str | None = None, top: int = 3, device=None,
            loader: Callable | None = None, precision: str = "auto") -> tuple[pd.DataFrame, list[PredictFailure]]:
    """Tag audio files: ``(table, failures)``.

    ``paths``: files and/or folders (searched recursively for :func:`audio_extensions`). ``run``: one run
    directory or a list. ``ensemble``: optional spec (``mean``/``geometric``, ``best=``, ``weights=``).
    ``table`` has one row per readable file (see :func:`top_tags`); ``failures`` lists the files that could not
    be read, with the reason, and paths that held no audio.
    """
    if not 1 <= top:
        raise ValueError(f"top must be at least 1, got {top}")
    preds, failures = predict_files(paths, run, ensemble, device, loader, precision)
    return top_tags(preds, min(top, len(preds.classes))), failures


def tags_as_records(table: pd.DataFrame) -> list[dict]:
    """The table as JSON-ready records: ``{"file": ..., "tags": [{"label": ..., "probability": ...}, ...]}``."""
    k = sum(1 for c in table.columns if c.startswith("tag_"))
    return [{"file": row["file"],
             "tags": [{"label": row[f"tag_{i}"], "probability": float(row[f"prob_{i}"])} for i in range(1, k + 1)]}
            for _, row in table.iterrows()]
