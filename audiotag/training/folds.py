"""Stratified K-fold splits (scikit-learn's splitter, seeded), checked before any training starts."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold


class SplitError(ValueError):
    """A dataset that cannot be split into the requested folds."""


def make_folds(train: pd.DataFrame, n_folds: int, seed: int = 0) -> pd.DataFrame:
    """Assign each training clip a fold in ``0..n_folds-1`` with class proportions kept in every fold.

    Returns a DataFrame ``fname, label, fold`` in the order of ``train``. Raises :class:`SplitError` when there are
    fewer clips than folds or a class has fewer clips than folds (it could not appear in every validation fold),
    naming those classes.
    """
    if n_folds < 2:
        raise SplitError(f"need at least 2 folds, got {n_folds}")
    if len(train) < n_folds:
        raise SplitError(f"dataset too small for {n_folds}-fold CV: only {len(train)} training clips")
    counts = train["label"].value_counts()
    small = counts[counts < n_folds]
    if len(small):
        listing = ", ".join(f"{label} ({n})" for label, n in small.sort_index().items())
        raise SplitError(f"{len(small)} classes have fewer clips than the {n_folds} folds: {listing}; "
                         f"use fewer folds or more data")
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    fold = np.full(len(train), -1, dtype=int)
    for k, (_, val_idx) in enumerate(splitter.split(np.zeros(len(train)), train["label"].to_numpy())):
        fold[val_idx] = k
    return pd.DataFrame({"fname": train["fname"].to_numpy(), "label": train["label"].to_numpy(), "fold": fold})


def subsample_stratified(train: pd.DataFrame, max_clips: int, min_per_class: int, seed: int = 0) -> pd.DataFrame:
    """At most ``max_clips`` clips, keeping at least ``min_per_class`` of each class (for quick profiles)."""
    if len(train) <= max_clips:
        return train
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))
    shuffled = train.iloc[order]
    keep = shuffled.groupby("label", sort=False).head(min_per_class)
    rest = shuffled.drop(keep.index)
    extra = max(0, max_clips - len(keep))
    chosen = pd.concat([keep, rest.head(extra)])
    return train.loc[sorted(chosen.index, key=train.index.get_loc)]
