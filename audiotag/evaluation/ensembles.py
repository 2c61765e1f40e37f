"""Ensembles of trained folds and runs: rank averaging (the paper's submission 2), means, and stacking.

Vocabulary (argus-freesound's flow, our names). A *run* is one training configuration trained with K-fold cross
validation (:class:`audiotag.training.runs.RunDir`). Fold ``k`` of a run leaves two prediction sets behind:

* ``fold_k/test.npz`` - the whole test set, scored by that fold's model;
* ``fold_k/oof.npz``  - the training clips held out from fold ``k`` ("out of fold").

A *member* of an ensemble is one (run, fold) pair. The paper's submission 2 took the 5 folds with the highest
validation accuracy of a 7-fold 2D-ConvNet run and the 3 best of a 5-fold 1D-ConvNet run, and rank-averaged
their test predictions with weights 3:3:2:2:2:1:1:1 - in :class:`EnsembleSpec` terms::

    EnsembleSpec(method="rank", best={"2d": 5, "1d": 3}, weights=(3, 3, 2, 2, 2, 1, 1, 1))
    EnsembleSpec.parse("rank; best=2d=5,1d=3; weights=3,3,2,2,2,1,1,1")      # the same, as text

Two kinds of combination follow from the layout:

* **test**: every member predicts every test clip, so the members' test predictions are combined directly, with
  one weight per member (members are ordered run by run; within a run, best fold first under ``best``, otherwise
  by fold number).
* **out of fold**: the folds of one run hold out disjoint clips, so a run's OOF set is the *concatenation* of its
  folds' OOF sets - one prediction per training clip. Runs are then combined clip by clip (aligned by fname), each
  run weighted by the sum of its members' weights. Fold selection does not apply here (each clip has exactly one
  fold of each run that did not see it), so the OOF score estimates "an ensemble of models like these".

Methods (:data:`METHODS`):

``rank``
    Weighted rank averaging as Kaggle practitioners did it: per member and per class, the clips' scores are
    ranked across the whole prediction set (ties get their average rank, ``scipy.stats.rankdata``), ranks are
    scaled to [0, 1] by ``(rank - 1) / (n_clips - 1)``, and the scaled ranks are averaged with the weights. Ranking
    removes differences of calibration between members (a 1D net that is always less confident counts as much as
    a 2D net). Rows are then divided by their sum so they can be read as scores that sum to 1; they are *not*
    probabilities, and a clip's top labels are the classes for which it ranks high relative to the other clips.
    Needs a whole set of clips: meaningless for a handful of files.
``mean``
    Weighted arithmetic mean of the probabilities.
``geometric``
    Weighted geometric mean ``exp(sum_m w_m log max(p_m, eps) / sum_m w_m)`` with the floor ``eps =``
    :data:`GEOMETRIC_EPS`, so a member's exact zero lowers a class's score strongly but never to ``-inf`` / NaN;
    rows renormalised to sum to 1.
``stack``
    A logistic-regression meta-model (:class:`Stacker`) reads the runs' concatenated OOF probabilities
    (``n_runs x n_classes`` features per clip) and predicts the label. Its own OOF predictions come from an inner
    cross-validation (``sklearn.model_selection.cross_val_predict``), so no clip is scored by a meta-model that
    was fit on it; for the test set it is fit on all OOF clips and applied to each run's mean test prediction
    over its selected folds. It learns its own weights, so ``weights`` is refused.

In a notebook::

    result = build_ensemble(["runs/2d", "runs/1d"], "rank; best=2d=5,1d=3; weights=3,3,2,2,2,1,1,1")
    result.members                                                   # who is in, with which weight
    evaluation.oof_score_table(result.oof_contenders(), result.labels)  # cross-validated, no test labels needed
    evaluation.score_table(result.contenders(), dataset.test)        # folds, runs and ensemble side by side
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from audiotag.training.prediction_sets import Predictions, PredictionsError, check_compatible
from audiotag.training.runs import RunDir

#: Combination methods, in the order the CLI lists them.
METHODS = ("rank", "mean", "geometric", "stack")
#: Floor applied to probabilities before taking logs in the geometric mean.
GEOMETRIC_EPS = 1e-7


class EnsembleError(ValueError):
    """An ensemble specification that cannot be applied (bad text, unknown run, too few folds, ...)."""


# ---------------------------------------------------------------------------------------------------------------
# The specification
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class EnsembleSpec:
    """What to combine and how.

    ``method``: one of :data:`METHODS`. ``best``: run name -> k, keep only that run's k folds with the highest
    validation accuracy (runs not named keep all their completed folds). ``weights``: one per member, in member
    order (see the module docstring); ``None`` weighs every member equally. ``runs``: run directories, optional
    here because the CLI and :func:`build_ensemble` usually take them separately.

    Text form (:meth:`parse`, ``str()``): fields separated by ``;`` or spaces, the method first, e.g.
    ``"rank; best=2d=5,1d=3; weights=3,3,2,2,2,1,1,1"`` or ``"mean runs=runs/a,runs/b"``.
    """

    method: str = "rank"
    best: dict[str, int] = field(default_factory=dict)
    weights: tuple[float, ...] | None = None
    runs: tuple[str, ...] = ()

    def __post_init__(self):
        if self.method not in METHODS:
            raise EnsembleError(f"unknown ensemble method {self.method!r}; use one of {', '.join(METHODS)}")
        self.best = {str(k): int(v) for k, v in dict(self.best).items()}
        for run, k in self.best.items():
            if k < 1:
                raise EnsembleError(f"best={run}={k}: the number of best folds must be at least 1")
        if self.weights is not None:
            self.weights = tuple(float(w) for w in self.weights)
            if not self.weights:
                raise EnsembleError("weights: empty list")
            if any(not np.isfinite(w) or w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise EnsembleError(f"weights {self.weights}: must be finite, non-negative and not all zero")
            if self.method == "stack":
                raise EnsembleError("stacking learns its own member weights; drop the weights")
        self.runs = tuple(str(r) for r in self.runs)

    @classmethod
    def parse(cls, text: str) -> "EnsembleSpec":
        """Read the text form, e.g. ``"rank; best=2d=5,1d=3; weights=3,3,2,2,2,1,1,1"``."""
        fields: dict[str, str] = {}
        for token in text.replace(";", " ").split():
            key, sep, value = token.partition("=")
            if not sep:
                key, value = "method", token
            if key not in ("method", "best", "weights", "runs"):
                raise EnsembleError(f"ensemble spec {text!r}: unknown field {key!r} "
                                    "(use method, best=RUN=K,..., weights=W,..., runs=DIR,...)")
            if key in fields:
                raise EnsembleError(f"ensemble spec {text!r}: {key} given twice")
            fields[key] = value
        return cls.from_options(method=fields.get("method", "rank"), best=fields.get("best"),
                                weights=fields.get("weights"), runs=fields.get("runs"))

    @classmethod
    def from_options(cls, method: str = "rank", best: str | Mapping[str, int] | None = None,
                     weights: str | Sequence[float] | None = None,
                     runs: str | Sequence[str | os.PathLike] | None = None) -> "EnsembleSpec":
        """Build a spec from CLI-style strings (``best="A=5,B=3"``, ``weights="3,3,2"``) or Python values."""
        if isinstance(best, str):
            parsed = {}
            for item in filter(None, best.split(",")):
                run, sep, k = item.rpartition("=")
                if not sep or not run or not k.strip().lstrip("-").isdigit():
                    raise EnsembleError(f"best: {item!r} is not RUN=K (e.g. best=2d=5,1d=3)")
                parsed[run] = int(k)
            best = parsed
        if isinstance(weights, str):
            try:
                weights = tuple(float(w) for w in weights.split(",") if w.strip())
            except ValueError:
                raise EnsembleError(f"weights: {weights!r} is not a comma-separated list of numbers") from None
        if isinstance(runs, str):
            runs = tuple(r for r in runs.split(",") if r)
        return cls(method=method, best=dict(best or {}), weights=None if weights is None else tuple(weights),
                   runs=tuple(str(r) for r in runs or ()))

    def __str__(self) -> str:
        parts = [self.method]
        if self.best:
            parts.append("best=" + ",".join(f"{r}={k}" for r, k in self.best.items()))
        if self.weights is not None:
            parts.append("weights=" + ",".join(f"{w:g}" for w in self.weights))
        if self.runs:
            parts.append("runs=" + ",".join(self.runs))
        return "; ".join(parts)


# ---------------------------------------------------------------------------------------------------------------
# Combining arrays
# ---------------------------------------------------------------------------------------------------------------
def _normalised_weights(weights: Sequence[float] | None, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise EnsembleError(f"{len(w)} weights for {n} members")
    if (w < 0).any() or w.sum() <= 0:
        raise EnsembleError(f"weights {tuple(w)}: must be non-negative and not all zero")
    return w / w.sum()


def _rows_sum_to_one(scores: np.ndarray) -> np.ndarray:
    """Divide each row by its sum; a row of zeros (possible only in degenerate rank cases) becomes uniform."""
    sums = scores.sum(axis=1, keepdims=True)
    uniform = np.full_like(scores, 1.0 / scores.shape[1])
    return np.where(sums > 0, scores / np.where(sums > 0, sums, 1.0), uniform)


def normalised_ranks(probs: np.ndarray) -> np.ndarray:
    """Per class (column), each clip's rank among all clips, ties averaged, scaled to [0, 1]."""
    from scipy.stats import rankdata

    probs = np.asarray(probs, dtype=np.float64)
    n = probs.shape[0]
    if n < 2:
        raise EnsembleError(f"rank averaging needs at least 2 clips to rank, got {n}: use mean or geometric")
    return (rankdata(probs, method="average", axis=0) - 1.0) / (n - 1.0)


def rank_average(probs_list: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted mean of :func:`normalised_ranks`, rows renormalised to sum to 1 (see the module docstring)."""
    w = _normalised_weights(weights, len(probs_list))
    ranks = sum(wi * normalised_ranks(p) for wi, p in zip(w, probs_list))
    return _rows_sum_to_one(ranks)


def arithmetic_mean(probs_list: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted mean of probabilities, rows renormalised to sum to 1."""
    w = _normalised_weights(weights, len(probs_list))
    return _rows_sum_to_one(sum(wi * np.asarray(p, dtype=np.float64) for wi, p in zip(w, probs_list)))


def geometric_mean(probs_list: Sequence[np.ndarray], weights: Sequence[float] | None = None,
                   eps: float = GEOMETRIC_EPS) -> np.ndarray:
    """Weighted geometric mean with probabilities floored at ``eps`` (never -inf/NaN), rows renormalised."""
    w = _normalised_weights(weights, len(probs_list))
    logs = sum(wi * np.log(np.maximum(np.asarray(p, dtype=np.float64), eps)) for wi, p in zip(w, probs_list))
    logs -= logs.max(axis=1, keepdims=True)  # stable: the largest entry of each row becomes exp(0) = 1
    return _rows_sum_to_one(np.exp(logs))


#: The methods that combine prediction arrays directly (stacking needs out-of-fold data, see :func:`stack`).
COMBINERS = {"rank": rank_average, "mean": arithmetic_mean, "geometric": geometric_mean}


def combine(preds: Sequence[Predictions], method: str = "mean", weights: Sequence[float] | None = None,
            name: str = "ensemble") -> Predictions:
    """Combine prediction sets over the same clips and classes (aligned by fname to the first set)."""
    if method not in COMBINERS:
        raise EnsembleError(f"combine() takes one of {', '.join(COMBINERS)}; "
                            f"{method!r} needs out-of-fold predictions (use build_ensemble)")
    preds = list(preds)
    check_compatible(preds)
    fnames = preds[0].fnames
    aligned = [p.probs if np.array_equal(p.fnames, fnames) else p.align(fnames).probs for p in preds]
    return Predictions(fnames, COMBINERS[method](aligned, weights), preds[0].classes, name)


def mean_predictions(preds: Sequence[Predictions], name: str) -> Predictions:
    """The plain mean of prediction sets (a run's folds on the test set)."""
    return combine(preds, "mean", None, name)


# ---------------------------------------------------------------------------------------------------------------
# Runs and members
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Member:
    """One fold of one run, with its validation accuracy and ensemble weight."""

    run: RunDir
    fold: int
    val_acc: float
    weight: float = 1.0

    @property
    def name(self) -> str:
        return f"{self.run.name}/fold_{self.fold}"

    def test(self) -> Predictions:
        return self.run.fold_test(self.fold)


def as_runs(runs: Sequence[str | os.PathLike | RunDir] | str | os.PathLike | RunDir) -> list[RunDir]:
    """Run directories from paths (one or several); every run must exist and names must be unique."""
    if isinstance(runs, (str, os.PathLike, RunDir)):
        runs = [runs]
    out = [r if isinstance(r, RunDir) else RunDir(r) for r in runs]
    if not out:
        raise EnsembleError("no runs given")
    for r in out:
        if not r.exists():
            raise EnsembleError(f"{r.path}: not a run directory (no config.json)")
    names = [r.name for r in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise EnsembleError(f"runs must have distinct directory names; repeated: {', '.join(dupes)}")
    return out


def check_runs_compatible(runs: Sequence[RunDir]) -> tuple[str, ...]:
    """The runs' shared class order; :class:`PredictionsError` naming the runs if they differ."""
    first = runs[0]
    classes = first.classes()
    for r in runs[1:]:
        other = r.classes()
        if other != classes:
            where = next((i for i, (a, b) in enumerate(zip(classes, other)) if a != b), min(len(classes), len(other)))
            raise PredictionsError(
                f"runs {first.name!r} and {r.name!r} use different class orders "
                f"({len(classes)} vs {len(other)} classes; first difference at index {where}) - "
                "their predictions cannot be combined")
    return classes


def _run_for_key(runs: Sequence[RunDir], key: str) -> RunDir:
    for r in runs:
        if key in (r.name, str(r.path)):
            return r
    raise EnsembleError(f"best={key}=...: no run named {key!r} among {', '.join(r.name for r in runs)}")


def select_members(runs: Sequence[RunDir], spec: EnsembleSpec) -> list[Member]:
    """The ensemble's members, run by run; ``spec.best`` keeps a run's k folds of highest validation accuracy
    (best first, ties to the lower fold number), otherwise all completed folds in fold order. Weights from
    ``spec.weights`` are attached in this order."""
    best = {_run_for_key(runs, key).name: k for key, k in spec.best.items()}
    members: list[Member] = []
    for r in runs:
        results = r.fold_results()
        if results.empty:
            raise EnsembleError(f"run {r.name!r} has no completed folds")
        if r.name in best:
            k = best[r.name]
            if k > len(results):
                raise EnsembleError(f"best={r.name}={k}, but run {r.name!r} has only {len(results)} completed folds")
            results = results.sort_values(["val_acc", "fold"], ascending=[False, True], kind="stable").head(k)
        else:
            results = results.sort_values("fold")
        members += [Member(r, int(row.fold), float(row.val_acc)) for row in results.itertuples()]
    if spec.weights is not None:
        if len(spec.weights) != len(members):
            raise EnsembleError(f"{len(spec.weights)} weights for {len(members)} members "
                                f"({', '.join(m.name for m in members)})")
        members = [Member(m.run, m.fold, m.val_acc, w) for m, w in zip(members, spec.weights)]
    return members


def members_frame(members: Sequence[Member]) -> pd.DataFrame:
    """Members as a table: run, fold, val_acc, weight."""
    return pd.DataFrame([{"run": m.run.name, "fold": m.fold, "val_acc": m.val_acc, "weight": m.weight}
                         for m in members])


def run_oof(run: RunDir) -> Predictions:
    """A run's out-of-fold predictions: ``oof.npz`` when the run wrote it, else its completed folds concatenated."""
    if run.oof_path.exists():
        return run.oof()
    folds = run.completed_folds()
    if not folds:
        raise EnsembleError(f"run {run.name!r} has no completed folds")
    parts = [run.fold_oof(k) for k in folds]
    if len({p.classes for p in parts}) > 1:
        raise PredictionsError(f"run {run.name!r}: folds disagree on the class order")
    fnames = np.concatenate([p.fnames for p in parts])
    if len(set(fnames)) != len(fnames):
        raise PredictionsError(f"run {run.name!r}: out-of-fold sets of different folds overlap")
    return Predictions(fnames, np.concatenate([p.probs for p in parts]), parts[0].classes, run.name)


def train_labels(runs: Sequence[RunDir]) -> pd.Series:
    """fname -> label of the training clips, from the runs' ``split.csv`` (must agree between runs)."""
    labels: pd.Series | None = None
    for r in runs:
        s = r.split().set_index("fname")["label"]
        if labels is None:
            labels = s
            continue
        common = labels.index.intersection(s.index)
        differ = common[(labels[common] != s[common]).to_numpy()]
        if len(differ):
            raise PredictionsError(f"runs {runs[0].name!r} and {r.name!r} give different labels to "
                                   f"{len(differ)} training clips, e.g. {list(differ[:3])}: different datasets?")
        labels = pd.concat([labels, s[~s.index.isin(labels.index)]])
    return labels


def _same_clips(preds: Sequence[Predictions], runs: Sequence[RunDir], what: str) -> None:
    first = set(preds[0].fnames)
    for p, r in zip(preds[1:], runs[1:]):
        other = set(p.fnames)
        if other != first:
            only = sorted(first ^ other)
            raise PredictionsError(f"runs {runs[0].name!r} and {r.name!r} have {what} for different clips "
                                   f"({len(first)} vs {len(other)}; {len(only)} differ, e.g. {only[:3]}) - "
                                   "different datasets, or an incomplete run?")


# ---------------------------------------------------------------------------------------------------------------
# Stacking
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StackConfig:
    """The meta-model: multinomial logistic regression with L2 strength ``1/C``; ``inner_folds`` stratified
    folds (shuffled with ``seed``) produce its out-of-fold predictions."""

    C: float = 1.0
    inner_folds: int = 5
    max_iter: int = 1000
    seed: int = 0


class Stacker:
    """A logistic-regression meta-model over members' class probabilities (features: runs x classes)."""

    def __init__(self, n_classes: int, config: StackConfig = StackConfig()):
        self.n_classes = n_classes
        self.config = config
        self.model = None

    def _new_model(self):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=self.config.C, max_iter=self.config.max_iter)

    def _expand(self, probs: np.ndarray, seen: np.ndarray) -> np.ndarray:
        full = np.zeros((len(probs), self.n_classes))
        full[:, seen] = probs
        return full

    def fit(self, features: np.ndarray, targets: np.ndarray) -> "Stacker":
        self.model = self._new_model().fit(features, targets)
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Probabilities for all ``n_classes`` (0 for classes never seen in training)."""
        if self.model is None:
            raise EnsembleError("the stacker has not been fit")
        return self._expand(self.model.predict_proba(features), self.model.classes_)

    def cross_val_proba(self, features: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Out-of-fold meta-predictions: each clip scored by a meta-model fit without it (no leakage)."""
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        targets = np.asarray(targets, dtype=int)
        # Stratification needs some class with at least as many clips as folds (tiny datasets get fewer folds).
        n_splits = min(self.config.inner_folds, int(np.bincount(targets).max()))
        if n_splits < 2:
            raise EnsembleError("stacking needs at least 2 training clips of some class for its inner "
                                "cross-validation")
        cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=self.config.seed)
        with warnings.catch_warnings():
            # Classes with fewer clips than inner folds: sklearn warns, and still stratifies as well as it can.
            warnings.filterwarnings("ignore", message="The least populated class")
            # Tiny (smoke) datasets: more classes than half the clips makes sklearn doubt these are class labels.
            warnings.filterwarnings("ignore", message=".*unique classes is greater than 50%")
            probs = cross_val_predict(self._new_model(), features, targets, cv=cv, method="predict_proba")
        return self._expand(probs, np.unique(targets))


def stack_features(preds: Sequence[Predictions], fnames) -> np.ndarray:
    """Concatenate the prediction sets' probabilities side by side, rows aligned to ``fnames``."""
    return np.hstack([p.align(fnames).probs for p in preds]).astype(np.float64)


@dataclass
class StackResult:
    """``oof``: inner-CV meta-predictions (honest); ``in_sample_oof``: the meta-model fit on all OOF clips scoring
    those same clips (leaky, optimistic - shown only to teach the difference); ``test``: the fitted meta-model on
    the runs' test predictions."""

    oof: Predictions
    in_sample_oof: Predictions
    test: Predictions | None
    stacker: Stacker


def stack(run_oofs: Sequence[Predictions], labels: pd.Series, run_tests: Sequence[Predictions] | None = None,
          config: StackConfig = StackConfig(), name: str = "stack") -> StackResult:
    """Fit the meta-model on the runs' OOF predictions (aligned by fname) and apply it.

    ``labels``: fname -> label for (at least) the OOF clips. ``run_tests``: one test prediction set per run, in
    the same order as ``run_oofs``; omit to skip the test set.
    """
    check_compatible(list(run_oofs))
    classes = run_oofs[0].classes
    index = {c: i for i, c in enumerate(classes)}
    fnames = run_oofs[0].fnames
    missing = [f for f in fnames if f not in labels.index]
    if missing:
        raise PredictionsError(f"no training label for {len(missing)} out-of-fold clips, e.g. {missing[:3]}")
    unknown = sorted(set(labels[fnames]) - set(index))
    if unknown:
        raise PredictionsError(f"training labels {unknown[:5]} are not among the predictions' classes")
    targets = np.array([index[lab] for lab in labels[fnames]])
    features = stack_features(run_oofs, fnames)
    stacker = Stacker(len(classes), config)
    oof = Predictions(fnames, stacker.cross_val_proba(features, targets), classes, name)
    stacker.fit(features, targets)
    in_sample = Predictions(fnames, stacker.predict_proba(features), classes, f"{name} (in-sample)")
    test = None
    if run_tests is not None:
        if len(run_tests) != len(run_oofs):
            raise EnsembleError(f"{len(run_tests)} test sets for {len(run_oofs)} runs")
        check_compatible(list(run_tests))
        test_fnames = run_tests[0].fnames
        test = Predictions(test_fnames, stacker.predict_proba(stack_features(run_tests, test_fnames)), classes, name)
    return StackResult(oof, in_sample, test, stacker)


# ---------------------------------------------------------------------------------------------------------------
# The whole flow
# ---------------------------------------------------------------------------------------------------------------
@dataclass
class EnsembleResult:
    """Everything an ensemble produced, as data.

    ``members``: run, fold, val_acc, weight. ``test`` / ``oof``: the ensemble's predictions. ``fold_tests``: every
    completed fold's test predictions (``run/fold_k``); ``run_tests``: each run's mean over all its completed folds;
    ``run_oofs``: each run's OOF set; ``labels``: training labels (fname -> label); ``stack``: the stacking details
    when ``method == "stack"``.
    """

    spec: EnsembleSpec
    members: pd.DataFrame
    test: Predictions
    oof: Predictions
    fold_tests: dict[str, Predictions]
    run_tests: dict[str, Predictions]
    run_oofs: dict[str, Predictions]
    labels: pd.Series
    stack: StackResult | None = None

    @property
    def name(self) -> str:
        return self.test.name

    def contenders(self) -> dict[str, Predictions]:
        """Single folds, whole runs (mean of fold probabilities) and the ensemble, for a side-by-side table."""
        return {**self.fold_tests, **self.run_tests, self.name: self.test}

    def oof_contenders(self) -> dict[str, Predictions]:
        """Each run's OOF set and the ensemble's (plus the leaky in-sample stacking score, if stacking)."""
        extra = {self.stack.in_sample_oof.name: self.stack.in_sample_oof} if self.stack else {}
        return {**self.run_oofs, self.name: self.oof, **extra}


def build_ensemble(runs: Sequence[str | os.PathLike | RunDir] | None, spec: EnsembleSpec | str,
                   stack_config: StackConfig = StackConfig(), name: str | None = None) -> EnsembleResult:
    """Select members, combine their test predictions, and combine (or stack) the runs' OOF predictions.

    ``runs`` may be ``None`` when the spec lists them (``runs=...``). Mismatched class orders, test sets or
    training clips between runs raise :class:`PredictionsError` naming the runs.
    """
    if isinstance(spec, str):
        spec = EnsembleSpec.parse(spec)
    runs = as_runs(list(runs) if runs else list(spec.runs))
    check_runs_compatible(runs)
    members = select_members(runs, spec)
    name = name or f"ensemble ({spec.method})"

    fold_tests = {f"{r.name}/fold_{k}": r.fold_test(k) for r in runs for k in r.completed_folds()}
    first_per_run = [fold_tests[f"{r.name}/fold_{r.completed_folds()[0]}"] for r in runs]
    _same_clips(first_per_run, runs, "test predictions")
    for r in runs:
        check_compatible([fold_tests[f"{r.name}/fold_{k}"] for k in r.completed_folds()])
    run_tests = {r.name: mean_predictions([fold_tests[f"{r.name}/fold_{k}"] for k in r.completed_folds()], r.name)
                 for r in runs}
    oofs = [run_oof(r) for r in runs]
    _same_clips(oofs, runs, "out-of-fold predictions")
    labels = train_labels(runs)

    stacked = None
    if spec.method == "stack":
        selected_means = [mean_predictions([fold_tests[m.name] for m in members if m.run.name == r.name], r.name)
                          for r in runs]
        stacked = stack(oofs, labels, selected_means, stack_config, name)
        test, oof = stacked.test, stacked.oof
    else:
        test = combine([fold_tests[m.name] for m in members], spec.method, [m.weight for m in members], name)
        run_weights = [sum(m.weight for m in members if m.run.name == r.name) for r in runs]
        oof = combine(oofs, spec.method, run_weights, name)
    return EnsembleResult(spec, members_frame(members), test, oof, fold_tests, run_tests,
                          {p.name: p for p in oofs}, labels, stacked)
