"""Evaluation on the test set as the challenge scored it: MAP@3 and accuracy, whole / public / private.

FSDKaggle2018's test set has 9400 clips, of which only the 1600 manually verified ones were scored: about 19%
(``usage == "Public"``, 301 clips) made the public leaderboard during the competition and the rest
(``"Private"``) the final ranking; the remaining clips (``"Ignored"``) were padding to discourage hand labelling.
"whole" below means Public + Private, the set the paper's Table 5 calls "whole".

Everything here returns data (pandas DataFrames) or matplotlib :class:`~matplotlib.figure.Figure` objects, so a
notebook only calls functions and displays what they return:

* :func:`score_table` - several prediction sets side by side (folds, runs, ensembles);
* :func:`per_class_table` - the paper's Table 5, optionally beside the paper's own numbers;
* :func:`confusion_matrix`, :func:`confusion_figure`, :func:`confused_pairs` - what is mistaken for what;
* :func:`write_submission` - a Kaggle-format CSV.

The test set is given as the dataset's test DataFrame (columns ``fname``, ``label``, ``usage``) or as a
:class:`ScoredClips` built from arrays.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from audiotag.fileio import write_text
from audiotag.training.metrics import accuracy, map3, per_class_map3
from audiotag.training.prediction_sets import Predictions, PredictionsError

#: The ``usage`` values Kaggle scored; any other value (``Ignored``) is left out.
SCORED_USAGES = ("Public", "Private")
#: Subsets of the scored clips, in the order of the tables' columns.
SUBSETS = ("whole", "public", "private")
#: Table 5's column order (the paper lists private before public).
TABLE5_SUBSETS = ("whole", "private", "public")
#: Number of labels per clip in a submission (MAP@3).
SUBMISSION_TOP_K = 3


class EvaluationError(ValueError):
    """Test labels that cannot be used for scoring (missing columns, unknown labels, no scored clips)."""


@dataclass(frozen=True)
class ScoredClips:
    """The scored test clips: names, true labels and Kaggle usage (``Public``/``Private``, or ``""`` when the
    dataset has no usage information - such clips count in ``whole`` only)."""

    fnames: np.ndarray
    labels: np.ndarray
    usage: np.ndarray

    def __post_init__(self):
        for attr in ("fnames", "labels", "usage"):
            object.__setattr__(self, attr, np.asarray(getattr(self, attr)).astype(str))
        if not (len(self.fnames) == len(self.labels) == len(self.usage)):
            raise EvaluationError(f"{len(self.fnames)} fnames, {len(self.labels)} labels and {len(self.usage)} "
                                  "usage values: lengths differ")

    @classmethod
    def from_frame(cls, test: pd.DataFrame) -> "ScoredClips":
        """Keep the rows with a known label and (when a ``usage`` column exists) a scored usage."""
        missing = {"fname", "label"} - set(test.columns)
        if missing:
            raise EvaluationError(f"test table lacks column(s) {sorted(missing)}; it has {list(test.columns)}")
        known = test["label"].notna() & (test["label"].astype(str) != "") & (test["label"].astype(str) != "None")
        if "usage" in test.columns:
            keep = known & test["usage"].isin(SCORED_USAGES)
            usage = test.loc[keep, "usage"]
        else:
            keep = known
            usage = pd.Series("", index=test.index[keep])
        rows = test[keep]
        if rows.empty:
            raise EvaluationError("the test table has no scored clips with known labels "
                                  "(test labels unknown for this dataset?)")
        return cls(rows["fname"].to_numpy(), rows["label"].to_numpy(), usage.to_numpy())

    def __len__(self) -> int:
        return len(self.fnames)

    def masks(self) -> dict[str, np.ndarray]:
        """``whole``, ``public`` and ``private`` as boolean masks over the clips."""
        return {"whole": np.ones(len(self), dtype=bool), "public": self.usage == "Public",
                "private": self.usage == "Private"}

    def targets(self, classes) -> np.ndarray:
        """True labels as indices into ``classes``."""
        index = {c: i for i, c in enumerate(classes)}
        unknown = sorted(set(self.labels) - set(index))
        if unknown:
            raise EvaluationError(f"test labels {unknown[:5]} are not among the predictions' classes")
        return np.array([index[lab] for lab in self.labels], dtype=int)


def scored_clips(test: pd.DataFrame | ScoredClips) -> ScoredClips:
    """Accept either form of the test set."""
    return test if isinstance(test, ScoredClips) else ScoredClips.from_frame(test)


def has_test_labels(test: pd.DataFrame) -> bool:
    """Whether the dataset's test table carries labels for some scored clips."""
    try:
        ScoredClips.from_frame(test)
    except EvaluationError:
        return False
    return True


def _aligned(pred: Predictions, clips: ScoredClips) -> tuple[np.ndarray, np.ndarray]:
    try:
        probs = pred.align(clips.fnames).probs
    except PredictionsError as exc:
        raise PredictionsError(f"{exc} (the predictions must cover every scored test clip)") from None
    return probs, clips.targets(pred.classes)


def score_table(preds: Mapping[str, Predictions] | Predictions, test: pd.DataFrame | ScoredClips) -> pd.DataFrame:
    """MAP@3 and accuracy of each prediction set on the whole scored test set and its public / private parts.

    Rows: the names (the mapping's keys); columns ``map3_whole``, ``map3_public``, ``map3_private``,
    ``accuracy_whole``, ``accuracy_public``, ``accuracy_private`` (NaN for an empty part). The number of clips in
    each part is in ``table.attrs["n_clips"]``.
    """
    if isinstance(preds, Predictions):
        preds = {preds.name or "predictions": preds}
    clips = scored_clips(test)
    masks = clips.masks()
    rows = {}
    for name, pred in preds.items():
        probs, targets = _aligned(pred, clips)
        row = {}
        for metric, fn in (("map3", map3), ("accuracy", accuracy)):
            for subset in SUBSETS:
                row[f"{metric}_{subset}"] = fn(probs[masks[subset]], targets[masks[subset]])
        rows[name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "name"
    table.attrs["n_clips"] = {subset: int(masks[subset].sum()) for subset in SUBSETS}
    return table


def study_row(run, test: pd.DataFrame | None = None, folds=None) -> dict:
    """One row of a study table (Tables 3 and 4) from a run of one or more folds (``folds``: only these of its
    completed folds, e.g. the main run's folds 0 and 1 when it stands for a row): the mean validation accuracy and
    MAP@3 over its folds with their standard deviation (the fold-to-fold spread), the mean stopping epoch, and, with
    test labels (and test predictions in every fold), the public and whole MAP@3 of the mean of its folds' test
    predictions."""
    from audiotag.evaluation.ensembles import mean_predictions

    results = run.fold_results()
    if folds is not None:
        wanted = {int(k) for k in folds}
        missing = sorted(wanted - set(results["fold"].astype(int)))
        if missing:
            raise EvaluationError(f"{run.path}: no result for fold(s) {missing} of this study row")
        results = results[results["fold"].astype(int).isin(wanted)]
    row = {"folds": len(results),
           "val acc": float(results["val_acc"].mean()), "val acc sd": float(results["val_acc"].std(ddof=1))
           if len(results) > 1 else float("nan"),
           "val MAP@3": float(results["val_map3"].mean()), "val MAP@3 sd": float(results["val_map3"].std(ddof=1))
           if len(results) > 1 else float("nan"),
           "stopping epoch": float(results["epochs_run"].mean())}
    folds = [int(k) for k in results["fold"]]
    if test is not None and has_test_labels(test) and all(run.fold_test_path(k).exists() for k in folds):
        scores = score_table(mean_predictions([run.fold_test(k) for k in folds], run.name), test)
        row.update({"public MAP@3": float(scores["map3_public"].iloc[0]),
                    "whole MAP@3": float(scores["map3_whole"].iloc[0])})
    return row


def oof_score_table(preds: Mapping[str, Predictions], labels: pd.Series) -> pd.DataFrame:
    """MAP@3 and accuracy of out-of-fold prediction sets against training labels (``fname -> label``).

    Columns ``map3_oof``, ``accuracy_oof``, ``n_clips``: the cross-validation estimate, available without any test
    labels (the paper's "val acc" is ``accuracy_oof`` of a single fold, averaged over folds).
    """
    rows = {}
    for name, pred in preds.items():
        missing = [f for f in pred.fnames if f not in labels.index]
        if missing:
            raise PredictionsError(f"{name}: no training label for {len(missing)} clips, e.g. {missing[:3]}")
        clips = ScoredClips(pred.fnames, labels[pred.fnames].to_numpy(), np.full(len(pred), ""))
        targets = clips.targets(pred.classes)
        rows[name] = {"map3_oof": map3(pred.probs, targets), "accuracy_oof": accuracy(pred.probs, targets),
                      "n_clips": len(pred)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "name"
    return table


def per_class_table(pred: Predictions, test: pd.DataFrame | ScoredClips, with_paper: bool = False) -> pd.DataFrame:
    """The paper's Table 5 for ``pred``: per-class MAP@3 on the whole, private and public test set.

    Columns ``score(whole)``, ``score(private)``, ``score(public)`` and the clip counts ``count(...)``; rows in
    the predictions' class order. ``with_paper=True`` adds the paper's values as ``paper(whole)``,
    ``paper(private)``, ``paper(public)`` (its ``Hi_hat`` matched to our ``Hi-hat``).
    """
    clips = scored_clips(test)
    probs, targets = _aligned(pred, clips)
    masks = clips.masks()
    table = per_class_map3(probs, targets, pred.classes, {s: masks[s] for s in TABLE5_SUBSETS})
    if with_paper:
        from audiotag.evaluation.paper_results import table5

        paper = table5().rename(columns=lambda c: c.replace("score(", "paper("))
        scores = [f"score({s})" for s in TABLE5_SUBSETS]
        counts = [f"count({s})" for s in TABLE5_SUBSETS]
        table = table[scores].join(paper, how="left")[scores + list(paper.columns)].join(table[counts])
    return table


def confusion_matrix(pred: Predictions, test: pd.DataFrame | ScoredClips, subset: str = "whole") -> pd.DataFrame:
    """Counts of (true label, top-1 predicted label) over a subset of the scored test clips.

    A square DataFrame: index ``true``, columns ``predicted``, both in the predictions' class order.
    """
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, not {subset!r}")
    clips = scored_clips(test)
    probs, targets = _aligned(pred, clips)
    mask = clips.masks()[subset]
    n = len(pred.classes)
    counts = np.zeros((n, n), dtype=int)
    np.add.at(counts, (targets[mask], probs[mask].argmax(axis=1)), 1)
    return pd.DataFrame(counts, index=pd.Index(pred.classes, name="true"),
                        columns=pd.Index(pred.classes, name="predicted"))


def row_normalised(matrix: pd.DataFrame) -> pd.DataFrame:
    """Each row divided by its total (the share of a true class's clips given each label); empty rows stay 0."""
    totals = matrix.sum(axis=1).replace(0, 1)
    return matrix.div(totals, axis=0)


def confused_pairs(matrix: pd.DataFrame, top: int | None = 10) -> pd.DataFrame:
    """The most frequent mistakes: columns ``true``, ``predicted``, ``count``, ``share`` (of the true class's
    clips), sorted by count then share, off-diagonal non-zero cells only; ``top=None`` keeps them all."""
    shares = row_normalised(matrix)
    rows = [(t, p, int(matrix.loc[t, p]), float(shares.loc[t, p]))
            for t in matrix.index for p in matrix.columns if t != p and matrix.loc[t, p] > 0]
    pairs = pd.DataFrame(rows, columns=["true", "predicted", "count", "share"])
    pairs = pairs.sort_values(["count", "share", "true", "predicted"], ascending=[False, False, True, True],
                              kind="stable").reset_index(drop=True)
    return pairs if top is None else pairs.head(top)


def confusion_figure(matrix: pd.DataFrame, normalize: bool = True, title: str | None = None,
                     size: float = 11.0):
    """A readable confusion-matrix figure: rows normalised to shares of the true class (``normalize``), every
    class labelled on both axes, a square-root colour bar (small confusions stay visible).
    Returns a :class:`matplotlib.figure.Figure` (no pyplot state)."""
    from matplotlib.colors import PowerNorm
    from matplotlib.figure import Figure

    values = row_normalised(matrix) if normalize else matrix
    n = len(matrix)
    fig = Figure(figsize=(size, size * 0.92), layout="constrained")
    ax = fig.add_subplot()
    # A square-root colour scale: the diagonal is near 1, and 5% confusions still show against the background.
    vmax = 1.0 if normalize else max(1.0, float(values.to_numpy().max()))
    image = ax.imshow(values.to_numpy(), cmap="Blues", norm=PowerNorm(0.5, vmin=0.0, vmax=vmax),
                      interpolation="nearest")
    ax.set_xticks(range(n), labels=list(matrix.columns), rotation=90, fontsize=7)
    ax.set_yticks(range(n), labels=list(matrix.index), fontsize=7)
    ax.set_xlabel("predicted label (top 1)")
    ax.set_ylabel("true label")
    ax.set_xticks(np.arange(n + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(n + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="0.9", linewidth=0.3)
    ax.tick_params(which="minor", length=0)
    fig.colorbar(image, ax=ax, shrink=0.8, label="share of the true class" if normalize else "clips")
    ax.set_title(title or ("Confusion matrix (rows normalised)" if normalize else "Confusion matrix"))
    return fig


def submission_frame(pred: Predictions, k: int = SUBMISSION_TOP_K) -> pd.DataFrame:
    """Kaggle's format: one row per clip, ``fname`` and ``label`` = the k best labels, best first, space-separated."""
    return pd.DataFrame({"fname": pred.fnames, "label": [" ".join(labels) for labels in pred.top_labels(k)]})


def write_submission(pred: Predictions, path: str | os.PathLike, k: int = SUBMISSION_TOP_K) -> Path:
    """Write :func:`submission_frame` as CSV (``fname,label`` header), atomically. Returns the path."""
    path = Path(path)
    write_text(path, submission_frame(pred, k).to_csv(index=False, lineterminator="\n"))
    return path
