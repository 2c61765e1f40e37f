"""How sure is a test score? Bootstrap intervals for MAP@3 and for the difference between two systems.

A test MAP@3 is the mean of one number per scored clip (1, 1/2, 1/3 or 0, :func:`per_clip_map3`). Another draw of
test clips from the same sounds would give another mean, and the *bootstrap* estimates how much: treat the clips
we have as the population, draw ``n`` of them **with replacement** many times (``n_boot``), and score each
draw. The spread of those re-scored means is the score's sampling noise. A *percentile bootstrap* 95% interval is
simply the 2.5th and 97.5th percentiles of the re-scored means (:func:`bootstrap_interval`). With about 327
scored clips and MAP@3 near 0.8, the standard error is about 0.016, so an interval is about +-0.03 wide.

Two systems scored on the same clips share most of that noise: a hard clip is hard for both. To compare them,
resample the *same* clip indices for both and take the difference of the means in each draw
(:func:`paired_difference`); equivalently, bootstrap the per-clip differences. The clip-to-clip difficulty
cancels, so a paired interval is much narrower than two separate intervals suggest. A difference is "real here"
when its paired interval excludes 0; otherwise it is within the test set's noise. (Real *here*: on these clips;
it says nothing about another test set or another training seed.)

:func:`score_intervals` and :func:`difference_table` do this for prediction sets on the scored test clips and
return DataFrames to display. Every system is resampled with the same index matrix (the same ``seed``), so the
two tables are consistent with each other. Only numpy and the project's own scoring helpers are used.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd

from audiotag.evaluation.scores import SUBSETS, EvaluationError, _aligned, scored_clips
from audiotag.training.metrics import average_precision_at_k
from audiotag.training.prediction_sets import Predictions

#: Bootstrap draws per chunk times clips: bounds the index matrix in memory (8 MB of int64 at a time).
CHUNK_ELEMENTS = 1_000_000
#: What :func:`difference_table` says about a paired interval.
REAL = "yes: the interval excludes 0"
NOISE = "no: within the test set's noise"


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap interval: ``low`` and ``high`` bound the central ``level`` share of the
    bootstrap distribution, ``se`` is that distribution's standard deviation, ``n`` the number of clips."""

    estimate: float
    low: float
    high: float
    level: float
    n: int
    se: float

    def __str__(self) -> str:
        return f"{self.estimate:.3f} ({self.low:.3f} to {self.high:.3f})"

    @property
    def width(self) -> float:
        return self.high - self.low

    @property
    def excludes_zero(self) -> bool:
        """Whether 0 lies outside the interval: for a difference, whether it is real on these clips."""
        return self.low > 0 or self.high < 0

    @property
    def verdict(self) -> str:
        """:data:`REAL` or :data:`NOISE`, in words for a table."""
        return REAL if self.excludes_zero else NOISE


def per_clip_map3(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Each clip's average precision at 3: 1, 1/2 or 1/3 when the true class is ranked 1st, 2nd or 3rd, else 0.
    MAP@3 is the mean of this array (:func:`audiotag.training.metrics.map3`)."""
    return average_precision_at_k(probs, targets, 3)


def bootstrap_indices(n: int, n_boot: int = 2000, seed: int = 0) -> Iterator[np.ndarray]:
    """The bootstrap's index matrix, ``(n_boot, n)`` clip indices drawn with replacement, in chunks of rows.

    The chunk size depends on ``n`` only, so a seed gives the same matrix for every system scored on the same
    ``n`` clips."""
    _check_n_boot(n_boot)
    rng = np.random.default_rng(seed)
    rows = max(1, CHUNK_ELEMENTS // max(n, 1))
    for start in range(0, n_boot, rows):
        yield rng.integers(0, n, size=(min(rows, n_boot - start), n))


def bootstrap_means(values: np.ndarray, n_boot: int = 2000, seed: int = 0) -> np.ndarray:
    """The mean of each bootstrap draw: shape ``(n_boot,)`` for values ``(n,)``, ``(n_boot, k)`` for ``(n, k)``
    (``k`` systems, all resampled with the same indices)."""
    values = np.asarray(values, dtype=float)
    _check_values(values, ndim=(1, 2))
    columns = values.reshape(len(values), -1)
    means = [np.stack([columns[idx, j].mean(axis=1) for j in range(columns.shape[1])], axis=1)
             for idx in bootstrap_indices(len(values), n_boot, seed)]
    means = np.concatenate(means)
    return means[:, 0] if values.ndim == 1 else means


def bootstrap_interval(values, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
    """Percentile bootstrap interval of the mean of ``values`` (one number per clip, e.g. :func:`per_clip_map3`).

    Deterministic for a seed; another seed moves the bounds a little (by much less than the interval's width when
    ``n_boot`` is in the thousands)."""
    values = np.asarray(values, dtype=float)
    _check_values(values)
    _check_level(level)
    return _interval(float(values.mean()), bootstrap_means(values, n_boot, seed), level, len(values))


def paired_difference(values_a, values_b, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
    """Paired bootstrap interval of ``mean(values_a) - mean(values_b)``: both systems' per-clip values, clip ``i``
    of one paired with clip ``i`` of the other, resampled with the same indices in every draw.

    ``.excludes_zero`` (or ``.verdict``) says whether the difference is real on these clips."""
    a, b = np.asarray(values_a, dtype=float), np.asarray(values_b, dtype=float)
    _check_values(a)
    _check_values(b)
    if a.shape != b.shape:
        raise ValueError(f"paired values must cover the same clips: {len(a)} values vs {len(b)}")
    _check_level(level)
    diff = a - b               # mean(a[idx]) - mean(b[idx]) == mean((a - b)[idx]): the same indices for both
    return _interval(float(diff.mean()), bootstrap_means(diff, n_boot, seed), level, len(diff))


def score_intervals(preds: Mapping[str, Predictions] | Predictions, test, subset: str = "whole",
                    n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Test MAP@3 of each prediction set with its bootstrap interval over the scored clips of ``subset``
    (``whole``, ``public`` or ``private``; ``test`` as for :func:`audiotag.evaluation.scores.score_table`).

    One row per system (index ``system``), columns ``MAP@3``, ``low``, ``high`` (the interval, 95% by default)
    and ``clips``. The level and number of draws are in ``table.attrs``."""
    _check_level(level)
    values = _per_clip_values(preds, test, subset)
    means = bootstrap_means(values.to_numpy(), n_boot, seed)
    rows = {name: _interval(float(values[name].mean()), means[:, j], level, len(values))
            for j, name in enumerate(values.columns)}
    table = pd.DataFrame({"MAP@3": [r.estimate for r in rows.values()], "low": [r.low for r in rows.values()],
                          "high": [r.high for r in rows.values()], "clips": len(values)},
                         index=pd.Index(list(rows), name="system"))
    table.attrs.update(level=level, n_boot=n_boot, subset=subset)
    return table


def difference_table(preds: Mapping[str, Predictions], test, pairs: Sequence[tuple[str, str]],
                     subset: str = "whole", n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Paired bootstrap intervals of MAP@3 differences: one row ``"A − B"`` per pair ``(A, B)`` of names in
    ``preds``, columns ``difference`` (MAP@3 of A minus that of B), ``low``, ``high`` and ``real here?`` (whether
    the interval excludes 0, in words)."""
    if not pairs:
        raise ValueError("no pairs of systems to compare")
    _check_level(level)
    names = set(preds) if isinstance(preds, Mapping) else set()
    unknown = sorted({name for pair in pairs for name in pair} - names)
    if unknown:
        raise ValueError(f"unknown system(s) {unknown} in pairs; the prediction sets are {sorted(names)}")
    values = _per_clip_values({name: preds[name] for pair in pairs for name in pair}, test, subset)
    rows = {f"{a} − {b}": paired_difference(values[a], values[b], n_boot, seed, level) for a, b in pairs}
    table = pd.DataFrame({"difference": [r.estimate for r in rows.values()], "low": [r.low for r in rows.values()],
                          "high": [r.high for r in rows.values()],
                          "real here?": [r.verdict for r in rows.values()]},
                         index=pd.Index(list(rows), name="difference of MAP@3"))
    table.attrs.update(level=level, n_boot=n_boot, subset=subset, clips=len(values))
    return table


def _per_clip_values(preds, test, subset: str) -> pd.DataFrame:
    """Per-clip AP@3 of each system on the scored clips of ``subset``: rows clips (in the test's order), columns
    systems."""
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, not {subset!r}")
    if isinstance(preds, Predictions):
        preds = {preds.name or "predictions": preds}
    if not preds:
        raise ValueError("no prediction sets given")
    clips = scored_clips(test)
    mask = clips.masks()[subset]
    if not mask.any():
        raise EvaluationError(f"the test set has no scored clips in subset {subset!r}")
    columns = {}
    for name, pred in preds.items():
        probs, targets = _aligned(pred, clips)
        columns[name] = per_clip_map3(probs[mask], targets[mask])
    return pd.DataFrame(columns, index=pd.Index(clips.fnames[mask], name="fname"))


def _interval(estimate: float, boot: np.ndarray, level: float, n: int) -> Interval:
    tail = (1 - level) / 2
    low, high = np.quantile(boot, [tail, 1 - tail])
    se = float(boot.std(ddof=1)) if len(boot) > 1 else 0.0
    return Interval(estimate, float(low), float(high), float(level), int(n), se)


def _check_values(values: np.ndarray, ndim: tuple[int, ...] = (1,)) -> None:
    if values.ndim not in ndim:
        raise ValueError(f"expected one value per clip (a {' or '.join(f'{d}-D' for d in ndim)} array), "
                         f"got shape {values.shape}")
    if len(values) == 0:
        raise ValueError("no values to resample (empty set of clips)")
    if not np.isfinite(values).all():
        raise ValueError("values contain NaN or infinity")


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1 (e.g. 0.95), not {level}")


def _check_n_boot(n_boot: int) -> None:
    if int(n_boot) != n_boot or n_boot < 1:
        raise ValueError(f"n_boot must be a positive whole number of bootstrap draws, not {n_boot}")
