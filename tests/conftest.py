"""Shared fixtures: a tiny FSD-layout corpus the tests make themselves (no network, a few seconds)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


def make_tone_corpus(root: Path, train_per_class: int = 4, test_per_class: int = 2, seed: int = 0,
                     n_classes: int = 41) -> Path:
    """A small FSDKaggle2018-layout corpus where each class is a tone of its own pitch plus noise (learnable).

    Clips last 0.3-1.5 s at 44.1 kHz; test usage alternates Public / Private. Classes beyond ``n_classes`` get no clips,
    so ``n_classes < 41`` makes a dataset with missing classes.
    """
    from audiotag.data.audio import write_audio
    from audiotag.data.labels import LABELS, SAMPLE_RATE

    rng = np.random.default_rng(seed)
    (root / "audio_train").mkdir(parents=True, exist_ok=True)
    (root / "audio_test").mkdir(parents=True, exist_ok=True)
    train_rows, test_rows = [], []
    for ci, label in enumerate(LABELS[:n_classes]):
        for j in range(train_per_class + test_per_class):
            t = np.arange(int(rng.uniform(0.3, 1.5) * SAMPLE_RATE)) / SAMPLE_RATE
            f0 = 110 * 2 ** (3.5 * ci / max(n_classes - 1, 1))   # classes spread over 3.5 octaves
            wave = 0.5 * np.sin(2 * np.pi * f0 * t) + 0.2 * np.sin(4 * np.pi * f0 * t) + 0.03 * rng.standard_normal(len(t))
            fname = f"{ci:02x}{j:06x}.wav"
            is_test = j >= train_per_class
            write_audio(root / ("audio_test" if is_test else "audio_train") / fname, wave.astype(np.float32))
            if is_test:
                test_rows.append((fname, label, "Public" if j % 2 else "Private", 0, "CC0"))
            else:
                train_rows.append((fname, label, int(j % 2 == 0), 0, "CC0"))
    pd.DataFrame(train_rows, columns=["fname", "label", "manually_verified", "freesound_id", "license"]).to_csv(
        root / "train_post_competition.csv", index=False)
    pd.DataFrame(test_rows, columns=["fname", "label", "usage", "freesound_id", "license"]).to_csv(
        root / "test_post_competition.csv", index=False)
    return root


@pytest.fixture(scope="session")
def tone_corpus(tmp_path_factory) -> Path:
    """8 classes x (4 train + 2 test) tone clips, shared read-only by the tests of a session (small, so that
    training tests stay quick on 2 cores)."""
    return make_tone_corpus(tmp_path_factory.mktemp("tone_corpus"), n_classes=8)


@dataclass(frozen=True)
class SmokeBook:
    """The smoke book built once per test session: its source root, the site, the corpus and the runs."""

    root: Path
    site: Path
    data: Path
    runs: Path


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory) -> SmokeBook:
    """Every notebook executed under the ``smoke`` profile on a tiny synthetic corpus, and the site built (a few
    minutes; ``tests/test_book.py`` checks the book, ``tests/test_tagger_browser.py`` tags sounds in its chapter 7).

    ``AUDIOTAG_SMOKE_BOOK=DIR`` reuses a smoke book built before into ``DIR`` (``DIR/synth``, ``DIR/runs``,
    ``DIR/source`` with its site), to iterate on the book's tests without rebuilding it."""
    from audiotag.book.build import BookSettings, build_site, execute_notebooks, stage_sources
    from audiotag.data.synth import generate_corpus

    reuse = os.environ.get("AUDIOTAG_SMOKE_BOOK")
    if reuse:
        tmp = Path(reuse)
        return SmokeBook(tmp / "source", tmp / "source" / "_build" / "html", tmp / "synth", tmp / "runs")
    tmp = tmp_path_factory.mktemp("book")
    # 6 clips per class: each smoke fold trains on about 3 per class, enough to pass the learned check above chance.
    data = generate_corpus(tmp / "synth", clips_per_class=6, test_clips_per_class=1, progress=False)
    root = stage_sources(tmp / "source")
    # Half of Table 4 keeps CI quick (make book runs all four rows); the missing rows show as NaN.
    extra = {"04_inception2d": {"compared_features": ["mfcc", "multires"]}}
    execute_notebooks(BookSettings("smoke", data, tmp / "runs", extra=extra), root)
    site = build_site(root)
    return SmokeBook(root, site, Path(data), tmp / "runs")
