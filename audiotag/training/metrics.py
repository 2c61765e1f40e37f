"""Metrics of DCASE 2018 Task 2: MAP@3 as Kaggle scored it, accuracy, and the paper's per-class table.

Each clip has one true label. A prediction is a ranked list of labels; the clip scores 1, 1/2 or 1/3 when the
true label is at rank 1, 2 or 3, and 0 otherwise. MAP@3 is the mean over clips. (Kaggle's formula divides by
min(3, number of true labels) = 1, so this is exact for single-label clips.)
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def top_k(probs: np.ndarray, k: int = 3) -> np.ndarray:
    """Indices of the ``k`` highest scores per row, best first. Ties go to the lower class index (stable)."""
    probs = np.asarray(probs)
    if probs.ndim != 2:
        raise ValueError(f"expected scores of shape (n_clips, n_classes), got {probs.shape}")
    order = np.argsort(-probs, axis=1, kind="stable")
    return order[:, :k]


def average_precision_at_k(probs: np.ndarray, targets: np.ndarray, k: int = 3) -> np.ndarray:
    """Per-clip AP@k: 1/rank of the true class if it is in the top k, else 0."""
    targets = np.asarray(targets, dtype=int)
    ranked = top_k(probs, k)
    if len(ranked) != len(targets):
        raise ValueError(f"{len(ranked)} predictions but {len(targets)} targets")
    hits = ranked == targets[:, None]
    weights = 1.0 / np.arange(1, k + 1)
    return (hits * weights).sum(axis=1)


def map_at_k(probs: np.ndarray, targets: np.ndarray, k: int = 3) -> float:
    """Mean average precision at k over clips (Kaggle's MAP@3 for k=3). NaN when there are no clips."""
    ap = average_precision_at_k(probs, targets, k)
    return float(ap.mean()) if len(ap) else float("nan")


def map3(probs: np.ndarray, targets: np.ndarray) -> float:
    return map_at_k(probs, targets, 3)


def accuracy(probs: np.ndarray, targets: np.ndarray) -> float:
    """Share of clips whose top-1 label is the true one."""
    targets = np.asarray(targets, dtype=int)
    if len(targets) == 0:
        return float("nan")
    return float((top_k(probs, 1)[:, 0] == targets).mean())


def per_class_map3(probs: np.ndarray, targets: np.ndarray, classes: tuple[str, ...] | list[str],
                   subsets: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """The paper's Table 5: MAP@3 of each class (mean AP@3 over clips whose true label is that class).

    ``subsets`` maps a column name to a boolean mask over clips (e.g. ``{"whole": all, "private": ...,
    "public": ...}``); by default one column ``whole``. Classes absent from a subset get NaN there.
    Rows are in ``classes`` order; a final ``count_<subset>`` column per subset gives the number of clips.
    """
    targets = np.asarray(targets, dtype=int)
    ap = average_precision_at_k(probs, targets, 3)
    if subsets is None:
        subsets = {"whole": np.ones(len(targets), dtype=bool)}
    table = {}
    counts = {}
    for name, mask in subsets.items():
        mask = np.asarray(mask, dtype=bool)
        scores, ns = [], []
        for c in range(len(classes)):
            sel = mask & (targets == c)
            ns.append(int(sel.sum()))
            scores.append(float(ap[sel].mean()) if sel.any() else float("nan"))
        table[f"score({name})"] = scores
        counts[f"count({name})"] = ns
    df = pd.DataFrame({**table, **counts}, index=pd.Index(list(classes), name="category"))
    return df
