"""The classical floor: MFCC statistics and a logistic regression.

Before any CNN, how far does a textbook recipe get? Each clip becomes one fixed-length vector, the mean and
standard deviation over time of its MFCCs (the spectral envelope, frame by frame) and of their deltas (how
the envelope moves); a multinomial logistic regression on standardised vectors then picks a class. The
clip's *order* of events is lost, only its average colour and variability remain, which is exactly what the
CNNs of the book can improve upon.

:func:`classic_baseline` fits on all training clips (verified or not, as the paper did) and reports
accuracy and MAP@3 on the scored test clips, overall and per leaderboard (``Public`` / ``Private``).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from audiotag.data.audio import load_audio
from audiotag.data.labels import SAMPLE_RATE
from audiotag.training.metrics import accuracy, map3, per_class_map3, top_k


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
