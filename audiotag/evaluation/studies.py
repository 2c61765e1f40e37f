"""Checks of the book's studies (Table 3's crop lengths, Table 4's features) against the main run.

A study trains one cheaper run per row (``audiotag.training.profiles.STUDY_PROTOCOL``). Its table only means
something if those rows learned about as much as the network can: a row stopped far too early compares nothing. So
the row that uses the main run's own setting (its crop length, its feature) is compared with the main run on the same
folds: :func:`study_share` is the share of the main run's validation accuracy that the row reaches, and
:func:`assert_study_share` stops the book when it falls below the profile's ``STUDY_MIN_SHARE`` (like
:func:`audiotag.training.trainer.assert_learned` for the main runs).
"""
from __future__ import annotations

import os
from typing import Iterable

from audiotag.training.runs import RunDir, RunError


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
