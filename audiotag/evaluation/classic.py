"""The classical floor: MFCC statistics and a logistic regression.

Before any CNN, how far does a textbook recipe get? Each clip becomes one fixed-length vector, the mean and
standard deviation over time of its MFCCs (the spectral envelope, frame by frame) and of their deltas (how
the envelope moves); a multinomial logistic regression on standardised vectors then picks a class. The
clip's *order* of events is lost, only its average colour and variability remain, which is exactly what the
CNNs of the book can improve upon.

:func:`classic_baseline` fits on all training clips (verified or not, as the paper did) and reports
accuracy and MAP@3 on the scored test clips, overall and per leaderboard (``Public`` / ``Private``).

Because it costs seconds, the floor also gives the cheapest *out-of-fold* predictions of the training clips
(:func:`classic_oof`, each clip scored by a model fit on the other folds), which is what
:mod:`audiotag.evaluation.label_noise` needs to rank suspected wrong labels; :func:`classic_test_predictions` refits
on all training clips, optionally with per-clip weights (0 drops a clip), and predicts the scored test clips.
:func:`classic_features` computes the MFCC statistics once for all of these.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Mapping

import numpy as np
import pandas as pd

from audiotag.data.audio import load_audio
from audiotag.data.labels import SAMPLE_RATE
from audiotag.training.metrics import accuracy, map3, per_class_map3, top_k
from audiotag.training.prediction_sets import Predictions


@dataclass(frozen=True)
class ClassicConfig:
    """Settings of the MFCC + logistic-regression baseline."""

    n_mfcc: int = 20
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 64
    delta_width: int = 9
    C: float = 0.5                # inverse L2 strength of the logistic regression
    max_iter: int = 3000
    verified_only: bool = False   # train on manually verified clips only
    sample_rate: int = SAMPLE_RATE

    def to_dict(self) -> dict:
        return asdict(self)


def mfcc_statistics(wave: np.ndarray, sample_rate: int, n_mfcc: int = 20, n_fft: int = 2048,
                    hop_length: int = 512, n_mels: int = 64, delta_width: int = 9) -> np.ndarray:
    """One vector per clip: [mean(MFCC), std(MFCC), mean(delta), std(delta)], length ``4 * n_mfcc``.

    MFCCs are librosa's (``librosa.feature.mfcc``: Hann-windowed power STFT, log-mel in dB, orthonormal DCT-II),
    computed with the book's ``torch.stft`` features (:func:`audiotag.features.spectral.mfcc`, equal to librosa's
    within float32 rounding, about 3x faster); the deltas are ``librosa.feature.delta``. A clip shorter than one
    FFT window is zero-padded to it; the delta window shrinks for clips with very few frames (fewer than 3
    frames: zero deltas). A silent clip gives a finite vector.
    """
    import librosa
    import torch

    from audiotag.features.spectral import mfcc

    wave = np.asarray(wave, dtype=np.float32)
    if wave.size < n_fft:
        wave = np.pad(wave, (0, n_fft - wave.size))
    mel_fb, dct = _mfcc_matrices(sample_rate, n_fft, n_mels, n_mfcc)
    with torch.no_grad():
        coefs = mfcc(torch.from_numpy(wave), sample_rate, n_mfcc, n_fft, hop_length, window="hann", mel_fb=mel_fb,
                     dct=dct).numpy()
    frames = coefs.shape[1]
    width = min(delta_width, frames if frames % 2 else frames - 1)
    delta = librosa.feature.delta(coefs, width=width) if width >= 3 else np.zeros_like(coefs)
    stats = [coefs.mean(axis=1), coefs.std(axis=1), delta.mean(axis=1), delta.std(axis=1)]
    return np.concatenate(stats).astype(np.float64)


@lru_cache(maxsize=8)
def _mfcc_matrices(sample_rate: int, n_fft: int, n_mels: int, n_mfcc: int):
    """The mel filterbank and DCT of :func:`mfcc_statistics`, built once per setting."""
    from audiotag.features.spectral import dct_matrix, mel_filterbank

    return mel_filterbank(sample_rate, n_fft, n_mels), dct_matrix(n_mfcc, n_mels)


def _features_of(job: tuple[str, ClassicConfig]) -> np.ndarray:
    path, cfg = job
    wave = load_audio(path, cfg.sample_rate)
    return mfcc_statistics(wave, cfg.sample_rate, cfg.n_mfcc, cfg.n_fft, cfg.hop_length, cfg.n_mels, cfg.delta_width)


def clip_features(paths: list[str], config: ClassicConfig | None = None, workers: int = 1,
                  progress: bool = False, desc: str = "MFCC statistics") -> np.ndarray:
    """:func:`mfcc_statistics` of every file in ``paths``, as an array (clips, features)."""
    from tqdm.auto import tqdm

    config = config or ClassicConfig()
    jobs = [(str(p), config) for p in paths]
    if workers > 1:     # threads: the STFT, the matrix products and the file decoding release the GIL
        with ThreadPoolExecutor(max_workers=workers) as pool:
            rows = list(tqdm(pool.map(_features_of, jobs, chunksize=8), total=len(jobs), desc=desc,
                             disable=not progress))
    else:
        rows = [_features_of(j) for j in tqdm(jobs, desc=desc, disable=not progress)]
    return np.stack(rows) if rows else np.zeros((0, 4 * config.n_mfcc))


def classic_baseline(dataset_root: str | os.PathLike, *, config: ClassicConfig | None = None, workers: int = 1,
                     progress: bool = False) -> dict:
    """Fit the MFCC-statistics logistic regression on the training clips, score the scored test clips.

    Returns a dict: ``accuracy``, ``map3`` (all scored clips), ``map3_public``, ``map3_private``, ``n_train``,
    ``n_test``, ``per_class`` (the paper's Table 5 layout, :func:`audiotag.training.metrics.per_class_map3`, plus a
    ``accuracy`` column), ``confusions`` (a DataFrame of the most frequent true -> predicted mistakes),
    ``probabilities`` (test clips x classes), ``targets``, ``fnames``, ``classes`` and ``config``.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from audiotag.data.datasets import load_dataset

    config = config or ClassicConfig()
    dataset = load_dataset(dataset_root)
    classes = tuple(dataset.classes)
    train = dataset.train
    if config.verified_only:
        train = train[train["manually_verified"]]
    test = dataset.scored_test()

    x_train = clip_features(train["path"].tolist(), config, workers, progress, "MFCC statistics (train)")
    x_test = clip_features(test["path"].tolist(), config, workers, progress, "MFCC statistics (test)")
    y_train = train["label_index"].to_numpy()
    targets = test["label_index"].to_numpy()

    model = make_pipeline(StandardScaler(), LogisticRegression(C=config.C, max_iter=config.max_iter))
    model.fit(x_train, y_train)
    probs = np.zeros((len(test), len(classes)))
    probs[:, model[-1].classes_] = model.predict_proba(x_test)  # classes absent from train keep 0

    usage = test["usage"].to_numpy()
    subsets = {"whole": np.ones(len(test), dtype=bool), "private": usage == "Private", "public": usage == "Public"}
    table = per_class_map3(probs, targets, classes, subsets)
    predicted = top_k(probs, 1)[:, 0]
    table.insert(0, "accuracy", [float(np.mean(predicted[targets == c] == c)) if np.any(targets == c) else np.nan
                                 for c in range(len(classes))])
    wrong = predicted != targets
    confusions = (pd.DataFrame({"true": np.asarray(classes)[targets[wrong]],
                                "predicted": np.asarray(classes)[predicted[wrong]]})
                  .value_counts().rename("count").reset_index())
    return {
        "accuracy": accuracy(probs, targets),
        "map3": map3(probs, targets),
        "map3_public": map3(probs[subsets["public"]], targets[subsets["public"]]),
        "map3_private": map3(probs[subsets["private"]], targets[subsets["private"]]),
        "n_train": int(len(train)),
        "n_test": int(len(test)),
        "per_class": table,
        "confusions": confusions,
        "probabilities": probs,
        "targets": targets,
        "fnames": test["fname"].tolist(),
        "classes": classes,
        "config": config.to_dict(),
    }


# ---------------------------------------------------------------------------------------------------------------
# Out-of-fold and weighted fits: the cheapest predictions for finding wrong labels
# ---------------------------------------------------------------------------------------------------------------
@dataclass(eq=False)
class ClassicFeatures:
    """The MFCC statistics of a dataset's training clips (``train``; verified ones only under
    ``config.verified_only``) and scored test clips (``test``, ``None`` without test labels), computed once;
    ``seconds``: how long that took."""

    classes: tuple[str, ...]
    train: pd.DataFrame
    x_train: np.ndarray
    test: pd.DataFrame | None
    x_test: np.ndarray | None
    config: ClassicConfig
    seconds: float


def classic_features(dataset_root: str | os.PathLike, config: ClassicConfig | None = None, workers: int = 1,
                     progress: bool = False, test: bool = True) -> ClassicFeatures:
    """:func:`clip_features` of the training clips and (``test``, when the dataset has test labels) of the scored
    test clips of the dataset at ``dataset_root``."""
    from audiotag.data.datasets import load_dataset

    config = config or ClassicConfig()
    start = time.perf_counter()
    dataset = load_dataset(dataset_root)
    train = dataset.train
    if config.verified_only:
        train = train[train["manually_verified"].astype(bool)]
    train = train.reset_index(drop=True)
    x_train = clip_features(train["path"].tolist(), config, workers, progress, "MFCC statistics (train)")
    scored, x_test = None, None
    if test and dataset.test is not None and (dataset.test["label_index"] >= 0).any():
        scored = dataset.scored_test().reset_index(drop=True)
        x_test = clip_features(scored["path"].tolist(), config, workers, progress, "MFCC statistics (test)")
    return ClassicFeatures(tuple(dataset.classes), train, x_train, scored, x_test, config,
                           time.perf_counter() - start)


def clip_weights(sample_weight, fnames) -> np.ndarray:
    """Per-clip weights in the order of ``fnames``: ``None`` (all 1), an array in that order, or a mapping
    ``fname -> weight`` (clips it does not name weigh 1). Weights must be finite and >= 0."""
    fnames = [str(f) for f in fnames]
    if sample_weight is None:
        weight = np.ones(len(fnames))
    elif isinstance(sample_weight, (Mapping, pd.Series)):
        given = dict(sample_weight.items())
        weight = np.array([float(given.get(f, 1.0)) for f in fnames])
    else:
        weight = np.asarray(sample_weight, dtype=float)
        if weight.shape != (len(fnames),):
            raise ValueError(f"sample_weight has shape {weight.shape}; expected one weight per training clip "
                             f"({len(fnames)},), or a mapping fname -> weight")
    if not np.isfinite(weight).all() or (weight < 0).any():
        raise ValueError("sample weights must be finite and >= 0")
    return weight


def fit_classic(x: np.ndarray, y: np.ndarray, config: ClassicConfig | None = None, sample_weight=None):
    """The standardiser + logistic regression fit on ``x, y``; ``sample_weight`` scales each clip's loss, and a
    clip of weight 0 leaves the fit entirely (the standardiser's statistics too), i.e. it is dropped."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    config = config or ClassicConfig()
    weight = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    keep = weight > 0
    model = make_pipeline(StandardScaler(), LogisticRegression(C=config.C, max_iter=config.max_iter))
    fit_kw = {} if np.all(weight[keep] == 1) else {"logisticregression__sample_weight": weight[keep]}
    model.fit(x[keep], y[keep], **fit_kw)
    return model


def _predict(model, x: np.ndarray, n_classes: int) -> np.ndarray:
    probs = np.zeros((len(x), n_classes))
    probs[:, model[-1].classes_] = model.predict_proba(x)   # classes absent from the fit keep 0
    return probs


def classic_oof(dataset_root: str | os.PathLike | None = None, n_folds: int = 3, seed: int = 0, sample_weight=None,
                *, features: ClassicFeatures | None = None, config: ClassicConfig | None = None, workers: int = 1,
                progress: bool = False, name: str = "classic") -> Predictions:
    """Out-of-fold predictions of the floor on the training clips: a stratified ``n_folds`` split (the training
    stage's :func:`~audiotag.training.folds.make_folds`, seeded), each fold scored by a model fit on the others.

    ``sample_weight`` (see :func:`clip_weights`) weights the fitting clips; weight 0 drops a clip from the folds it
    would train, but it is still scored out of fold. ``features`` (from :func:`classic_features`) skips the
    feature extraction; otherwise ``dataset_root`` is read. Seconds for 800 clips, once the features exist."""
    from audiotag.training.folds import make_folds

    if features is None:
        if dataset_root is None:
            raise ValueError("give dataset_root or precomputed features")
        features = classic_features(dataset_root, config, workers, progress, test=False)
    train, x = features.train, features.x_train
    y = train["label_index"].to_numpy()
    weight = clip_weights(sample_weight, train["fname"])
    fold = make_folds(train, n_folds, seed)["fold"].to_numpy()
    probs = np.zeros((len(train), len(features.classes)))
    for k in range(n_folds):
        fit_rows, val_rows = fold != k, fold == k
        model = fit_classic(x[fit_rows], y[fit_rows], features.config, weight[fit_rows])
        probs[val_rows] = _predict(model, x[val_rows], len(features.classes))
    return Predictions(train["fname"].to_numpy(), probs, features.classes, name)


def classic_test_predictions(dataset_root: str | os.PathLike | None = None, sample_weight=None, *,
                             features: ClassicFeatures | None = None, config: ClassicConfig | None = None,
                             workers: int = 1, progress: bool = False, name: str = "classic") -> Predictions:
    """The floor fit on all training clips (weighted by ``sample_weight``, :func:`clip_weights`; 0 drops a clip)
    and applied to the scored test clips, as :class:`Predictions` for :mod:`audiotag.evaluation.scores` and
    :mod:`audiotag.evaluation.uncertainty`. With ``sample_weight=None`` this is :func:`classic_baseline`'s model."""
    if features is None:
        if dataset_root is None:
            raise ValueError("give dataset_root or precomputed features")
        features = classic_features(dataset_root, config, workers, progress)
    if features.test is None:
        raise ValueError("the dataset has no scored test clips with known labels")
    train = features.train
    weight = clip_weights(sample_weight, train["fname"])
    model = fit_classic(features.x_train, train["label_index"].to_numpy(), features.config, weight)
    return Predictions(features.test["fname"].to_numpy(), _predict(model, features.x_test, len(features.classes)),
                       features.classes, name)
