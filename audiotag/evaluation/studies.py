"""Checks of the book's studies (Table 3's crop lengths, Table 4's features) against the main run.

A study trains one run per row (``audiotag.training.profiles.STUDY_PROTOCOL``). The row whose settings are the main
run's (its crop length, its feature, its recipe) is the main run itself, read on the row's folds, never trained
again (:func:`reuses_main_run`): under ``paper`` that saves a full cross-validation per table. A table only means
something if its rows learned about as much as the network can: a row stopped far too early compares nothing. So
when the rows are trained under a shorter protocol than the main run's, the row with the main run's setting is
compared with the main run on the same folds: :func:`study_share` is the share of the main run's validation accuracy that the row reaches, and
:func:`assert_study_share` stops the book when it falls below the profile's ``STUDY_MIN_SHARE`` (like
:func:`audiotag.training.trainer.assert_learned` for the main runs).
"""
from __future__ import annotations

import os
from typing import Iterable

from audiotag.training.config import TrainConfig
from audiotag.training.runs import RunDir, RunError

#: Settings that do not change what a fold trains: which folds run, and how much is printed.
_NOT_TRAINING = ("folds", "quiet")


def reuses_main_run(row: TrainConfig, main: TrainConfig) -> bool:
    """Whether a study row is the main run: every setting equal but which folds run (and printing), and the row's
    folds among the main run's. Then the row is read from the main run (``study_row(main_run, folds=row.folds)``)
    instead of being trained again with the same seed, the same data and the same recipe."""
    same = all(getattr(row, f) == getattr(main, f) for f in row.__dataclass_fields__ if f not in _NOT_TRAINING)
    main_folds = set(range(main.n_folds)) if main.folds is None else set(main.folds)
    row_folds = set(range(row.n_folds)) if row.folds is None else set(row.folds)
    return same and row_folds <= main_folds


def main_run_val_acc(main_run: RunDir | str | os.PathLike, folds: Iterable[int] | None = None) -> float:
    """The main run's mean validation accuracy over ``folds`` (all its completed folds when ``None``). Raises
    :class:`~audiotag.training.runs.RunError` when one of the folds has not been trained."""
    run = main_run if isinstance(main_run, RunDir) else RunDir(main_run)
    results = run.fold_results()
    done = set(results["fold"].astype(int))
    wanted = sorted(done) if folds is None else sorted(int(k) for k in folds)
    missing = [k for k in wanted if k not in done]
    if missing or not wanted:
        raise RunError(f"{run.path}: the main run has no result for fold(s) {missing or 'any'} "
                       f"(completed: {sorted(done)})")
    return float(results.set_index("fold").loc[wanted, "val_acc"].mean())


def study_share(row_val_acc: float, main_run: RunDir | str | os.PathLike, folds: Iterable[int] | None) -> float:
    """The share of the main run's validation accuracy that a study row reaches: ``row_val_acc`` divided by the
    mean validation accuracy of ``main_run`` over the same ``folds`` (``None``: all its completed folds). A row at
    0.63 against a main run at 0.70 on those folds reaches 0.9 of it.
    """
    reference = main_run_val_acc(main_run, folds)
    if reference <= 0:
        raise ValueError(f"the main run's validation accuracy is {reference}: no share can be taken of it")
    return float(row_val_acc) / reference


def assert_study_share(row_val_acc: float, main_run: RunDir | str | os.PathLike, folds: Iterable[int] | None,
                       min_share: float | None, row: str = "the study row") -> float:
    """:func:`study_share`, raising ``AssertionError`` with the numbers when it is below ``min_share`` (no check
    when ``min_share`` is ``None``). Returns the share."""
    share = study_share(row_val_acc, main_run, folds)
    if min_share is not None and share < min_share:
        reference = main_run_val_acc(main_run, folds)
        raise AssertionError(
            f"{row} reached validation accuracy {row_val_acc:.3f}, {share:.1%} of the main run's {reference:.3f} on "
            f"the same folds, below the {min_share:.0%} the study needs: its rows did not train long enough to "
            f"compare anything (see audiotag.training.profiles.STUDY_PROTOCOL)")
    return share


def study_run(row: TrainConfig, main: TrainConfig, main_run: RunDir | str | os.PathLike, run_dir: str | os.PathLike,
              data_dir: str | os.PathLike, **train_kwargs) -> tuple[RunDir, bool]:
    """The run that stands for one study row, and whether it is the main run: the main run itself when the row's
    settings are the main run's (:func:`reuses_main_run`; read it with ``study_row(run, folds=row.folds)``), else
    the row trained (or resumed) in ``run_dir`` by :func:`audiotag.training.jobs.train_jobs` with ``train_kwargs``
    (``jobs=N`` trains its folds as N parallel jobs; the default, 1, is :func:`audiotag.training.trainer.train`)."""
    if reuses_main_run(row, main):
        return (main_run if isinstance(main_run, RunDir) else RunDir(main_run)), True
    from audiotag.training.jobs import train_jobs

    return train_jobs(row, data_dir, run_dir, **train_kwargs), False


def study_folds(row: TrainConfig) -> list[int]:
    """The folds a study row is read on: its ``folds``, or all of the profile's."""
    return list(range(row.n_folds)) if row.folds is None else [int(k) for k in row.folds]
