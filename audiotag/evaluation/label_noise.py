"""Which training labels are wrong? Ranking clips by how strongly out-of-fold predictions contradict their label.

FSDKaggle2018's unverified labels come from Freesound tags and are sometimes wrong (the synthetic corpus knows
which: :func:`known_wrong_labels`). A model that never saw a clip - its *out-of-fold* prediction, from
cross-validation (:meth:`audiotag.training.runs.RunDir.oof`, or the seconds-cheap classical floor,
:func:`audiotag.evaluation.classic.classic_oof`) - gives each training clip a probability for its own label. A clip
whose label gets little of it is a candidate for a wrong label.

* :func:`suspicion_table` ranks the clips, most suspicious first;
* :func:`detection_scores` says how well that ranking finds known wrong labels (precision@k and recall@k against
  chance, and average precision);
* :func:`write_suspicious_csv` writes the clips to listen to (for a dataset without known truth);
* :func:`flag_file` writes the flag list that training reads (``TrainConfig.label_noise`` = ``drop`` or
  ``weight`` with ``label_noise_file``; format: :func:`audiotag.training.trainer.read_flag_file`);
* :func:`flag_weights` turns flags into per-clip weights as training applies them (for the classical floor).

The suspicion score (``score=``):

``self_confidence`` (default)
    ``1 - p_label``, in [0, 1]: little probability for the label, wherever the rest goes (the same ranking as the
    clip's cross-entropy loss: "small-loss" selection, and confident learning's self-confidence, Northcutt et al.,
    2021). A wrong label is typically an unrelated class, to which a model that never saw the clip gives almost
    nothing.
``margin``
    ``max_{j != label} p_j - p_label``, in [-1, 1]: how far the best *other* class beats the label (negative when
    the label wins, by how much; the negated "normalized margin" of confident learning, and the quantity behind
    Pleiss et al.'s (2020) area under the margin). It prefers clips that a model confidently puts into another
    class over clips it is unsure about.

Why the default: on the default synthetic corpus (493 unverified clips, 59 of them mislabelled) with the classical
floor's 3-fold out-of-fold predictions, ``self_confidence`` ranks the wrong labels with average precision 0.54
against ``margin``'s 0.41 (chance 0.13). The mislabelled clips' labels got a median probability of 0.002 (median
rank 19 of 41 classes), so the label's own probability carries the signal; how confident the model is about some
*other* class adds noise, since right labels of easily confused classes have a confident rival too. (A per-class
normalised self-confidence did barely better, 0.555, and is not offered.) Only the order of the scores matters,
not their calibration.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from audiotag.fileio import write_text
from audiotag.training.prediction_sets import Predictions

#: Suspicion scores :func:`suspicion_table` knows.
SCORES = ("self_confidence", "margin")
#: The columns of :func:`suspicion_table` (``manually_verified`` and ``path`` follow when ``train`` has them).
TABLE_COLUMNS = ("fname", "label", "predicted", "p_label", "p_top", "label_rank", "suspicion")
#: The columns of a flag file (:func:`flag_file`).
FLAG_COLUMNS = ("fname", "suspicion", "weight")


def suspicion_table(oof: Predictions, train: pd.DataFrame, unverified_only: bool = True,
                    score: str = "self_confidence") -> pd.DataFrame:
    """The training clips ranked by how strongly the out-of-fold predictions ``oof`` disagree with their label.

    ``train``: the dataset's training table (``fname``, ``label``, ``manually_verified``; ``path`` is carried
    along for listening). ``unverified_only``: rank only the clips not manually verified (whose labels may be
    wrong). Columns: ``fname``, ``label``, ``predicted`` (top-1 class), ``p_label`` (probability of the label),
    ``p_top`` (of the top class), ``label_rank`` (1 = the label is the top class; ties count in the label's
    favour), ``suspicion`` (``score``, see the module's docstring), then ``manually_verified`` and ``path`` when
    given. Sorted most suspicious first (ties by fname). Clips of ``train`` without a prediction (a run with some
    folds only) are left out; ``table.attrs`` says how many (``unscored``) and which ``score`` ranked them.
    """
    if score not in SCORES:
        raise ValueError(f"unknown suspicion score {score!r}; choose one of {SCORES}")
    missing = {"fname", "label"} - set(train.columns)
    if missing:
        raise ValueError(f"the training table lacks column(s) {sorted(missing)}; it has {list(train.columns)}")
    rows = train
    if unverified_only:
        if "manually_verified" not in train.columns:
            raise ValueError("unverified_only=True needs a 'manually_verified' column in the training table; "
                             "pass unverified_only=False to rank every clip")
        rows = train[~train["manually_verified"].astype(bool)]
    index = {f: i for i, f in enumerate(oof.fnames)}
    scored = rows["fname"].astype(str).isin(index)
    if not scored.any():
        raise ValueError(f"none of the {len(rows)} training clips to rank has a prediction in "
                         f"{oof.name or 'the predictions'}: predictions of another dataset?")
    unscored = int((~scored).sum())
    rows = rows[scored]
    class_index = {c: j for j, c in enumerate(oof.classes)}
    unknown = sorted(set(rows["label"]) - set(class_index))
    if unknown:
        raise ValueError(f"labels {unknown[:5]} are not among the predictions' classes")
    probs = oof.probs[[index[f] for f in rows["fname"].astype(str)]].astype(np.float64)
    y = np.array([class_index[c] for c in rows["label"]], dtype=int)
    n = np.arange(len(y))
    p_label = probs[n, y]
    top = probs.argmax(axis=1)
    others = probs.copy()
    others[n, y] = -np.inf
    p_other = others.max(axis=1) if probs.shape[1] > 1 else np.zeros(len(y))
    suspicion = p_other - p_label if score == "margin" else 1.0 - p_label
    table = pd.DataFrame({
        "fname": rows["fname"].astype(str).to_numpy(),
        "label": rows["label"].to_numpy(),
        "predicted": np.asarray(oof.classes, dtype=object)[top],
        "p_label": p_label,
        "p_top": probs[n, top],
        "label_rank": 1 + (probs > p_label[:, None]).sum(axis=1),
        "suspicion": suspicion,
    })
    for extra in ("manually_verified", "path"):
        if extra in rows.columns:
            table[extra] = rows[extra].to_numpy()
    table = table.sort_values(["suspicion", "fname"], ascending=[False, True], kind="mergesort")
    table = table.reset_index(drop=True)
    table.attrs.update(score=score, unscored=unscored, unverified_only=unverified_only)
    return table


def average_precision(table: pd.DataFrame, wrong: Iterable[str]) -> float:
    """Average precision of the ranking ``table`` (most suspicious first) at finding the clips in ``wrong``: the
    mean, over the wrong clips it ranks, of the precision at each one's position (1: all of them first). NaN when
    it ranks none."""
    hits = _hits(table, wrong)
    if not hits.any():
        return float("nan")
    positions = np.flatnonzero(hits) + 1
    return float(np.mean(np.arange(1, len(positions) + 1) / positions))


def chance_average_precision(n: int, n_wrong: int) -> float:
    """Expected average precision of a random ranking of ``n`` clips of which ``n_wrong`` are wrong (exact:
    ``(1/n) * ((W-1)/(n-1) * (n - H_n) + H_n)`` with ``H_n`` the n-th harmonic number; about the base rate
    ``W/n`` for large n)."""
    if n_wrong <= 0 or n <= 0:
        return float("nan")
    harmonic = float(np.sum(1.0 / np.arange(1, n + 1)))
    share = (n_wrong - 1) / (n - 1) if n > 1 else 0.0
    return (share * (n - harmonic) + harmonic) / n


def detection_scores(table: pd.DataFrame, wrong: Iterable[str], ks: Sequence[int] = (10, 20, 50, 100, 200)
                     ) -> pd.DataFrame:
    """How well the ranking ``table`` (:func:`suspicion_table`) finds the known wrong labels ``wrong`` (fnames).

    One row per ``k`` (values above the number of ranked clips are left out): ``found`` (wrong labels among the
    top k), ``precision`` (found / k), ``recall`` (found / wrong labels ranked), ``chance precision`` (the base
    rate of wrong labels among the ranked clips: what k random clips give on average), ``chance recall`` (k / n),
    and ``lift`` = precision / chance precision (equal to recall / chance recall: how many times better than
    picking clips at random). ``table.attrs``: ``n`` (ranked clips), ``n_wrong`` (wrong ones among them),
    ``base_rate``, ``average_precision`` and ``chance_average_precision`` (:func:`chance_average_precision`).
    """
    hits = _hits(table, wrong)
    n, n_wrong = len(hits), int(hits.sum())
    found = np.cumsum(hits)
    base = n_wrong / n if n else float("nan")
    rows = []
    for k in sorted({int(k) for k in ks}):
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if k > n:
            continue
        f = int(found[k - 1])
        precision = f / k
        rows.append({"k": k, "found": f, "precision": precision,
                     "recall": f / n_wrong if n_wrong else float("nan"), "chance precision": base,
                     "chance recall": k / n, "lift": precision / base if base else float("nan")})
    out = pd.DataFrame(rows, columns=["k", "found", "precision", "recall", "chance precision", "chance recall",
                                      "lift"])
    out.attrs.update(n=n, n_wrong=n_wrong, base_rate=base, average_precision=average_precision(table, wrong),
                     chance_average_precision=chance_average_precision(n, n_wrong))
    return out


def _hits(table: pd.DataFrame, wrong: Iterable[str]) -> np.ndarray:
    if isinstance(wrong, (str, bytes)):
        raise TypeError("wrong must be a collection of fnames, not one string")
    wrong = {str(f) for f in wrong}
    return table["fname"].astype(str).isin(wrong).to_numpy()


def known_wrong_labels(data_dir: str | os.PathLike) -> set[str]:
    """The training clips whose label is wrong, for a synthetic corpus (its ``synth_info.json``)."""
    from audiotag.data.synth import read_info

    return set(read_info(data_dir)["mislabeled"])


def write_suspicious_csv(table: pd.DataFrame, path: str | os.PathLike, top: int | None = None) -> Path:
    """Write the ``top`` most suspicious clips of ``table`` (all with ``None``) as a CSV to listen to, atomically
    (a reader never sees half a file); the columns of the table, in its order. Returns the path."""
    if top is not None and top < 0:
        raise ValueError(f"top must be >= 0 or None, got {top}")
    rows = table if top is None else table.head(top)
    path = Path(path)
    write_text(path, rows.to_csv(index=False))
    return path


def flag_file(table: pd.DataFrame, path: str | os.PathLike, top_k: int | None = None,
              threshold: float | None = None, weight: float | None = None) -> pd.DataFrame:
    """Write the flag list that training reads (``label_noise_file``): the ``top_k`` most suspicious clips of
    ``table``, or those whose suspicion is at least ``threshold`` (exactly one of the two).

    CSV columns ``fname, suspicion, weight``, written atomically. ``weight``: the loss weight of every flagged clip
    under ``label_noise="weight"``; ``None`` leaves the column empty, so the run's ``label_noise_weight`` decides.
    Returns the flags written."""
    if (top_k is None) == (threshold is None):
        raise ValueError("give exactly one of top_k (the k most suspicious clips) or threshold (suspicion >= it)")
    if weight is not None and not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1] or None, got {weight}")
    if top_k is not None:
        if top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {top_k}")
        chosen = table.head(int(top_k))
    else:
        chosen = table[table["suspicion"] >= threshold]
    flags = pd.DataFrame({"fname": chosen["fname"].astype(str).to_numpy(),
                          "suspicion": chosen["suspicion"].to_numpy(dtype=float),
                          "weight": np.full(len(chosen), np.nan if weight is None else float(weight))})
    write_text(path, flags.to_csv(index=False))
    return flags


def flag_weights(flags: pd.DataFrame, mode: str = "drop", weight: float = 0.2) -> dict[str, float]:
    """``fname -> weight`` of the flagged clips as training applies a flag list: ``drop`` gives 0 (the clip leaves
    the fit), ``weight`` the flags' own ``weight`` where given, else ``weight``. For
    :func:`audiotag.evaluation.classic.classic_oof` / ``classic_test_predictions``' ``sample_weight``."""
    if mode not in ("drop", "weight"):
        raise ValueError(f"mode must be 'drop' or 'weight', not {mode!r}")
    if mode == "drop":
        return {str(f): 0.0 for f in flags["fname"]}
    own = flags["weight"] if "weight" in flags.columns else pd.Series(np.nan, index=flags.index)
    return {str(f): float(weight if pd.isna(w) else w) for f, w in zip(flags["fname"], own)}
