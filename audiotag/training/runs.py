"""The layout of a training run's directory, read and written in one place.

::

    runs/NAME/
      config.json        the full TrainConfig (model, features, augmentation, recipe, folds, seed), classes, data root
      split.csv          fname,label,fold   (the stratified K-fold split, saved before any training)
      fold_0/
        state.pt         resume state after the last completed epoch (weights, optimiser, scheduler, RNG, history)
        checkpoint.pt    the best weights + everything needed to predict (see audiotag.training.checkpoint)
        history.csv      one row per epoch: train_loss, train_acc, val_loss, val_acc, val_map3, lr, seconds
        oof.npz          predictions for this fold's held-out training clips   (audiotag.training.prediction_sets.Predictions)
        test.npz         predictions for the whole test set
        result.json      best_epoch, val_acc, val_map3, epochs_run: written last, so it marks the fold complete
      oof.npz            all folds' out-of-fold predictions together (written when every fold is complete)
      summary.json       per-fold and overall results

A run is keyed by its directory name (argus-freesound's "experiment"), which ensembles use as a prefix.
"""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from audiotag.fileio import read_json
from audiotag.training.prediction_sets import Predictions


class RunError(ValueError):
    """A run directory that is missing, incomplete or malformed for what was asked of it."""


class RunDir:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    # --- paths -------------------------------------------------------------------------------------------------
    config_path = property(lambda self: self.path / "config.json")
    split_path = property(lambda self: self.path / "split.csv")
    oof_path = property(lambda self: self.path / "oof.npz")
    summary_path = property(lambda self: self.path / "summary.json")

    def fold_dir(self, fold: int) -> Path:
        return self.path / f"fold_{fold}"

    def state_path(self, fold: int) -> Path:
        return self.fold_dir(fold) / "state.pt"

    def checkpoint_path(self, fold: int) -> Path:
        return self.fold_dir(fold) / "checkpoint.pt"

    def history_path(self, fold: int) -> Path:
        return self.fold_dir(fold) / "history.csv"

    def fold_oof_path(self, fold: int) -> Path:
        return self.fold_dir(fold) / "oof.npz"

    def fold_test_path(self, fold: int) -> Path:
        return self.fold_dir(fold) / "test.npz"

    def result_path(self, fold: int) -> Path:
        return self.fold_dir(fold) / "result.json"

    # --- reading -----------------------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.config_path.exists()

    def _require(self, path: Path, what: str) -> Path:
        if not path.exists():
            raise RunError(f"{self.path}: no {what} ({path.name} missing) - has this run been trained?")
        return path

    def config(self) -> dict:
        return read_json(self._require(self.config_path, "config"))

    def classes(self) -> tuple[str, ...]:
        return tuple(self.config()["classes"])

    def n_folds(self) -> int:
        return int(self.config()["n_folds"])

    def split(self) -> pd.DataFrame:
        return pd.read_csv(self._require(self.split_path, "fold split"))

    def completed_folds(self) -> list[int]:
        return [k for k in range(self.n_folds()) if self.result_path(k).exists()]

    def fold_result(self, fold: int) -> dict:
        return read_json(self._require(self.result_path(fold), f"result for fold {fold}"))

    def fold_results(self) -> pd.DataFrame:
        """One row per completed fold: fold, best_epoch, val_acc, val_map3, epochs_run, seconds."""
        rows = [{"fold": k, **self.fold_result(k)} for k in self.completed_folds()]
        return pd.DataFrame(rows, columns=None if rows else ["fold", "best_epoch", "val_acc", "val_map3",
                                                              "epochs_run", "n_train", "n_val", "seconds"])

    def history(self, fold: int) -> pd.DataFrame:
        return pd.read_csv(self._require(self.history_path(fold), f"history for fold {fold}"))

    def histories(self) -> pd.DataFrame:
        frames = [self.history(k).assign(fold=k) for k in range(self.n_folds()) if self.history_path(k).exists()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def fold_oof(self, fold: int) -> Predictions:
        return Predictions.load(self._require(self.fold_oof_path(fold), f"out-of-fold predictions for fold {fold}"),
                                name=f"{self.name}/fold_{fold}")

    def fold_test(self, fold: int) -> Predictions:
        return Predictions.load(self._require(self.fold_test_path(fold), f"test predictions for fold {fold}"),
                                name=f"{self.name}/fold_{fold}")

    def oof(self) -> Predictions:
        return Predictions.load(self._require(self.oof_path, "out-of-fold predictions"), name=self.name)

    def is_complete(self) -> bool:
        return self.exists() and len(self.completed_folds()) == self.n_folds()
