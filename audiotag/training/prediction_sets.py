"""Prediction sets: clip names, class probabilities and the class order, saved as ``.npz`` (no pickles).

Every fold of a run writes two of these: out-of-fold (its held-out training clips) and test (the whole test set).
Ensembles, tables and submissions all start from :class:`Predictions`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audiotag.fileio import atomic_path


class PredictionsError(ValueError):
    """Prediction sets that cannot be combined (different classes or clips) or a malformed file."""


@dataclass
class Predictions:
    fnames: np.ndarray          # (n,) str
    probs: np.ndarray           # (n, n_classes) float32, rows sum to 1
    classes: tuple[str, ...]
    name: str = ""

    def __post_init__(self):
        self.fnames = np.asarray(self.fnames).astype(str)
        self.probs = np.asarray(self.probs, dtype=np.float32)
        self.classes = tuple(str(c) for c in self.classes)
        if self.probs.ndim != 2 or self.probs.shape != (len(self.fnames), len(self.classes)):
            raise PredictionsError(f"{self.name or 'predictions'}: probs shape {self.probs.shape} does not match "
                                   f"{len(self.fnames)} clips x {len(self.classes)} classes")

    def __len__(self) -> int:
        return len(self.fnames)

    def save(self, path: str | os.PathLike) -> None:
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, fnames=self.fnames, probs=self.probs, classes=np.asarray(self.classes),
                         name=np.asarray(self.name))

    @classmethod
    def load(cls, path: str | os.PathLike, name: str | None = None) -> "Predictions":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(z["fnames"], z["probs"], tuple(z["classes"].tolist()),
                           name if name is not None else str(z["name"]) if "name" in z else path.stem)
        except (OSError, KeyError, ValueError) as exc:
            raise PredictionsError(f"{path}: not a predictions file ({exc})") from None

    def align(self, fnames) -> "Predictions":
        """The same predictions reordered to ``fnames`` (which must all be present)."""
        index = {f: i for i, f in enumerate(self.fnames)}
        missing = [f for f in fnames if f not in index]
        if missing:
            raise PredictionsError(f"{self.name or 'predictions'}: {len(missing)} clips missing, e.g. {missing[:5]}")
        order = np.array([index[f] for f in fnames], dtype=int)
        return Predictions(self.fnames[order], self.probs[order], self.classes, self.name)

    def top_labels(self, k: int = 3) -> list[list[str]]:
        from audiotag.training.metrics import top_k

        return [[self.classes[j] for j in row] for row in top_k(self.probs, k)]


def check_compatible(preds: list[Predictions]) -> None:
    """Refuse to combine prediction sets with different class orders or clip sets, naming the culprit."""
    if not preds:
        raise PredictionsError("no prediction sets given")
    first = preds[0]
    for p in preds[1:]:
        if p.classes != first.classes:
            raise PredictionsError(f"class order of {p.name!r} differs from {first.name!r}")
        if set(p.fnames) != set(first.fnames):
            only = sorted(set(p.fnames) ^ set(first.fnames))
            raise PredictionsError(f"{p.name!r} and {first.name!r} predict different clips "
                                   f"({len(only)} differ, e.g. {only[:3]})")
