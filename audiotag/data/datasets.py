"""Datasets: FSDKaggle2018 exactly as published, and any folder of labelled audio described by a CSV.

A dataset is a :class:`TaggingDataset`: a vocabulary (``classes``, whose order is the class index order of
every model) and two tables, ``train`` and ``test``, with one row per clip and its absolute ``path``.

FSDKaggle2018 (DCASE 2018 Task 2) is published in two layouts, and both load with :func:`load_fsdkaggle2018`:

**Kaggle** (the competition's files, also what ``audiotag data synth`` writes)::

    root/audio_train/*.wav
    root/audio_test/*.wav
    root/train_post_competition.csv   fname,label,manually_verified,freesound_id,license
      or root/train.csv               fname,label,manually_verified        (the competition's original)
    root/test_post_competition.csv    fname,label,usage,freesound_id,license

**Zenodo** (record 2552860, the four zips extracted side by side, what ``audiotag data download`` writes)::

    root/FSDKaggle2018.audio_train/*.wav
    root/FSDKaggle2018.audio_test/*.wav
    root/FSDKaggle2018.meta/train_post_competition.csv              (same columns as above)
    root/FSDKaggle2018.meta/test_post_competition_scoring_clips.csv fname,label,usage,freesound_id,license
    root/FSDKaggle2018.doc/README.md, LICENSE-DATASET

The test ``usage`` column says which Kaggle leaderboard scored a clip: ``Public`` (about 19% of the scored clips)
or ``Private`` (the final ranking). Kaggle's test set also held ~7.8k ``Ignored`` "padding" clips that were never
scored; the Zenodo release keeps only the 1,600 scored clips. :meth:`TaggingDataset.scored_test` gives the
scored rows.

A Kaggle copy *without* test ground truth (no test CSV, but ``audio_test/`` present) still loads: its ``test``
table lists the clips (from ``sample_submission.csv`` if present, else the folder's ``*.wav``) with ``label`` and
``usage`` missing (NaN) and ``label_index`` = -1, so it can be predicted but not scored. With neither a test CSV
nor test audio, ``test`` is ``None``.

Everything that could stop a run later (a CSV missing a column, a label outside the vocabulary, a missing
audio file, a clip listed twice) is checked at load time and reported together in one :class:`DatasetError`
that names the file and lists the offending names.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from audiotag.data.labels import LABELS

#: Columns of ``TaggingDataset.train`` and ``TaggingDataset.test`` (extra CSV columns follow these).
TRAIN_COLUMNS = ("fname", "label", "label_index", "manually_verified", "path")
TEST_COLUMNS = ("fname", "label", "label_index", "usage", "path")
#: Values of the test ``usage`` column, and those that count for the score.
USAGES = ("Public", "Private", "Ignored")
SCORED_USAGES = ("Public", "Private")
#: ``label_index`` of a clip without a usable label (unlabelled test clips, unscored ``Ignored`` clips).
UNLABELLED = -1
#: Usage given to every row of a folder dataset's test CSV that has no ``usage`` column.
DEFAULT_FOLDER_USAGE = "Private"
#: How many offending names an error message lists before summarising the rest.
MAX_LISTED = 10

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


class DatasetError(ValueError):
    """A dataset that cannot be used as it is; the message names the root or CSV and lists every problem.

    ``DatasetError(source, problems)`` keeps ``source`` and ``problems`` (a list of strings) as attributes;
    ``DatasetError("message")`` works like a plain ``ValueError``.
    """

    def __init__(self, source: str | os.PathLike, problems: Sequence[str] | None = None):
        self.source = str(source)
        self.problems = list(problems or [])
        if not self.problems:
            super().__init__(self.source)
        elif len(self.problems) == 1:
            super().__init__(f"{self.source}: {self.problems[0]}")
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            super().__init__(f"{self.source}: {len(self.problems)} problems:\n{lines}")


@dataclass(frozen=True)
class FSDLayout:
    """Where one published FSDKaggle2018 layout keeps its files, relative to the dataset root.

    The first CSV of each tuple that exists is used (``train_post_competition.csv`` before the original
    ``train.csv``, which lacks the Freesound ids and licences).
    """

    name: str
    train_audio: str
    test_audio: str
    train_csvs: tuple[str, ...]
    test_csvs: tuple[str, ...]
    marker_dirs: tuple[str, ...]


KAGGLE_LAYOUT = FSDLayout(
    name="kaggle",
    train_audio="audio_train",
    test_audio="audio_test",
    train_csvs=("train_post_competition.csv", "train.csv"),
    test_csvs=("test_post_competition.csv", "test_post_competition_scoring_clips.csv"),
    marker_dirs=("audio_train",),
)
ZENODO_LAYOUT = FSDLayout(
    name="zenodo",
    train_audio="FSDKaggle2018.audio_train",
    test_audio="FSDKaggle2018.audio_test",
    train_csvs=("FSDKaggle2018.meta/train_post_competition.csv",),
    test_csvs=("FSDKaggle2018.meta/test_post_competition_scoring_clips.csv",),
    marker_dirs=("FSDKaggle2018.meta", "FSDKaggle2018.audio_train"),
)
FSD_LAYOUTS = (ZENODO_LAYOUT, KAGGLE_LAYOUT)
#: Kaggle's list of the test clips to predict (used to list an unlabelled test set).
SAMPLE_SUBMISSION = "sample_submission.csv"


@dataclass(eq=False)
class TaggingDataset:
    """A labelled audio-tagging dataset: the vocabulary and the train/test tables.

    ``train`` columns: ``fname``, ``label``, ``label_index`` (int, index into ``classes``),
    ``manually_verified`` (bool), ``path`` (absolute, str). ``test`` columns: ``fname``, ``label``,
    ``label_index``, ``usage`` (``Public``/``Private``/``Ignored``), ``path``; or ``None`` without a test set.
    Any further CSV columns (``freesound_id``, ``license``) follow.
    """

    name: str
    root: Path
    classes: tuple[str, ...]
    train: pd.DataFrame
    test: pd.DataFrame | None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def has_scored_test(self) -> bool:
        """True if there are test clips with ground truth that count for the score."""
        return self.test is not None and bool(self.test["usage"].isin(SCORED_USAGES).any())

    def scored_test(self) -> pd.DataFrame:
        """The test clips that count: ``Public`` and ``Private`` rows (Kaggle's ``Ignored`` padding dropped)."""
        if self.test is None:
            raise DatasetError(self.root, ["this dataset has no test set"])
        scored = self.test[self.test["usage"].isin(SCORED_USAGES)].reset_index(drop=True)
        if scored.empty:
            raise DatasetError(self.root, ["the test set has no ground truth (no Public/Private rows to score)"])
        return scored

    def summary(self) -> pd.DataFrame:
        """Clips per class: ``train``, ``verified`` (manually verified train clips), ``test_public``,
        ``test_private``; one row per class, in class index order."""
        n = len(self.classes)
        train_idx = self.train["label_index"].to_numpy()
        verified = self.train["manually_verified"].to_numpy(dtype=bool)
        table = {
            "train": np.bincount(train_idx, minlength=n),
            "verified": np.bincount(train_idx[verified], minlength=n),
        }
        for usage in SCORED_USAGES:
            if self.test is None:
                table[f"test_{usage.lower()}"] = np.zeros(n, dtype=int)
            else:
                rows = self.test[self.test["usage"] == usage]
                table[f"test_{usage.lower()}"] = np.bincount(rows["label_index"].to_numpy(), minlength=n)
        return pd.DataFrame(table, index=pd.Index(self.classes, name="label"))

    def __repr__(self) -> str:
        if self.test is None:
            test = "None"
        else:
            test = f"{len(self.test)} clips ({int(self.test['usage'].isin(SCORED_USAGES).sum())} scored)"
        return (f"TaggingDataset(name={self.name!r}, root='{self.root}', classes={len(self.classes)}, "
                f"train={len(self.train)} clips, test={test})")


# --------------------------------------------------------------------------------------------------- loaders


def load_dataset(root: str | os.PathLike, **kw) -> TaggingDataset:
    """Load whatever dataset ``root`` holds: FSDKaggle2018 (either layout) or a folder + ``labels.csv``.

    Keyword arguments go to the chosen loader; any of ``csv``, ``audio_dir``, ``classes``, ``test_csv`` selects
    :func:`load_folder_dataset`.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, ["no such directory"])
    if kw.keys() & {"csv", "audio_dir", "classes", "test_csv"}:
        return load_folder_dataset(root, **kw)
    layout = detect_fsd_layout(root)
    has_labels_csv = (root / "labels.csv").is_file()
    if layout is not None and (_first_existing(root, layout.train_csvs) is not None or not has_labels_csv):
        return load_fsdkaggle2018(root, **kw)
    if has_labels_csv:
        return load_folder_dataset(root, **kw)
    raise DatasetError(root, [
        "not a recognised dataset. Expected one of: FSDKaggle2018 from Kaggle (audio_train/ + "
        "train_post_competition.csv or train.csv), FSDKaggle2018 from Zenodo (FSDKaggle2018.meta/ + "
        "FSDKaggle2018.audio_train/), or a folder of audio with labels.csv (fname,label)",
    ])


def detect_fsd_layout(root: str | os.PathLike) -> FSDLayout | None:
    """The FSDKaggle2018 layout found under ``root`` (one with a train CSV wins), or ``None``."""
    root = Path(root)
    candidates = [lay for lay in FSD_LAYOUTS if any((root / d).is_dir() for d in lay.marker_dirs)
                  or _first_existing(root, lay.train_csvs) is not None]
    with_csv = [lay for lay in candidates if _first_existing(root, lay.train_csvs) is not None]
    return (with_csv or candidates or [None])[0]


def load_fsdkaggle2018(root: str | os.PathLike, *, check_files: bool = True) -> TaggingDataset:
    """Load FSDKaggle2018 from ``root`` in its Kaggle or Zenodo layout (see the module docstring).

    ``classes`` is :data:`audiotag.data.labels.LABELS`, in its fixed index order. With ``check_files`` every listed
    clip must exist in the audio folders.
    """
    root = Path(root).resolve()
    layout = detect_fsd_layout(root)
    if layout is None:
        raise DatasetError(root, ["no FSDKaggle2018 files found (looked for audio_train/ with train.csv or "
                                  "train_post_competition.csv, and for FSDKaggle2018.meta/)"])
    train_csv = _first_existing(root, layout.train_csvs)
    if train_csv is None:
        raise DatasetError(root, [f"FSDKaggle2018 ({layout.name} layout) without its train CSV: expected "
                                  + " or ".join(layout.train_csvs)])
    classes = tuple(LABELS)
    train = _read_train(train_csv, root / layout.train_audio, classes, check_files,
                        vocabulary_name="the 41-label FSDKaggle2018 vocabulary")

    test_csv = _first_existing(root, layout.test_csvs)
    test_dir = root / layout.test_audio
    if test_csv is not None:
        test = _read_test(test_csv, test_dir, classes, check_files,
                          vocabulary_name="the 41-label FSDKaggle2018 vocabulary", require_usage=True)
    elif test_dir.is_dir():
        test = _unlabelled_test(root, test_dir)
    else:
        test = None
    return TaggingDataset(name="fsdkaggle2018", root=root, classes=classes, train=train, test=test)


def load_folder_dataset(root: str | os.PathLike, csv: str | os.PathLike = "labels.csv",
                        audio_dir: str | os.PathLike = ".", classes: Sequence[str] | None = None,
                        test_csv: str | os.PathLike | None = None, check_files: bool = True) -> TaggingDataset:
    """Load your own labelled audio: a folder of clips and a CSV with columns ``fname,label``.

    ``csv``, ``audio_dir`` and ``test_csv`` are relative to ``root`` (or absolute). ``fname`` is relative to
    ``audio_dir`` and may contain sub-folders (``dog/bark1.wav``). An optional ``manually_verified`` column is
    read (default: all verified). ``classes`` defaults to the sorted unique train labels; the test CSV
    (same columns, optional ``usage``; default usage ``Private``) may only use those classes.
    """
    root = Path(root).resolve()
    csv_path = _resolve(root, csv)
    audio = _resolve(root, audio_dir)
    if not csv_path.is_file():
        raise DatasetError(root, [f"label CSV {csv_path} not found (a folder dataset needs a CSV with columns "
                                  "fname,label)"])
    if classes is None:
        raw = _read_csv(csv_path, required=("fname", "label"))
        labels = raw["label"][raw["label"] != ""]
        classes = tuple(sorted(set(labels)))
        if not classes:
            raise DatasetError(csv_path, ["no labels: the label column is empty"])
    else:
        classes = tuple(classes)
        dups = _duplicates(classes)
        if dups:
            raise DatasetError(root, [f"classes listed twice: {_preview(dups)}"])
    vocab = f"the dataset's {len(classes)} classes"
    train = _read_train(csv_path, audio, classes, check_files, vocabulary_name=vocab)
    test = None
    if test_csv is not None:
        test_path = _resolve(root, test_csv)
        if not test_path.is_file():
            raise DatasetError(root, [f"test CSV {test_path} not found"])
        test = _read_test(test_path, audio, classes, check_files, vocabulary_name=vocab, require_usage=False)
        shared = sorted(set(train["path"]) & set(test["path"]))
        if shared:
            raise DatasetError(test_path, [f"{len(shared)} clip(s) are in both the train and the test CSV "
                                           f"(test results would be meaningless): {_preview(_names(shared, audio))}"])
    return TaggingDataset(name="folder", root=root, classes=classes, train=train, test=test)


# --------------------------------------------------------------------------------------------------- tables


def _read_train(csv_path: Path, audio_dir: Path, classes: tuple[str, ...], check_files: bool,
                vocabulary_name: str) -> pd.DataFrame:
    df = _read_csv(csv_path, required=("fname", "label"))
    problems = _common_problems(df)
    no_label = df["fname"][df["label"] == ""].tolist()
    if no_label:
        problems.append(f"{len(no_label)} row(s) without a label: {_preview(no_label)}")
    problems += _unknown_label_problems(df["label"][df["label"] != ""], classes, vocabulary_name)

    if "manually_verified" in df.columns:
        verified, bad = _parse_bool(df["manually_verified"])
        if bad:
            problems.append(f"manually_verified must be 1/0 or true/false; got {_preview(bad)}")
    else:
        verified = np.ones(len(df), dtype=bool)
    paths = [str(audio_dir / f) for f in df["fname"]]
    if check_files:
        problems += _missing_file_problems(df["fname"].tolist(), audio_dir)
    if problems:
        raise DatasetError(csv_path, problems)

    index = {c: i for i, c in enumerate(classes)}
    out = pd.DataFrame({
        "fname": df["fname"],
        "label": df["label"],
        "label_index": np.array([index[x] for x in df["label"]], dtype=np.int64),
        "manually_verified": np.asarray(verified, dtype=bool),
        "path": paths,
    })
    return _with_extras(out, df, TRAIN_COLUMNS)


def _read_test(csv_path: Path, audio_dir: Path, classes: tuple[str, ...], check_files: bool,
               vocabulary_name: str, require_usage: bool) -> pd.DataFrame:
    required = ("fname", "label", "usage") if require_usage else ("fname", "label")
    df = _read_csv(csv_path, required=required)
    problems = _common_problems(df)
    if "usage" in df.columns:
        usage = df["usage"]
        bad = sorted(set(usage) - set(USAGES))
        if bad:
            problems.append(f"usage must be one of {', '.join(USAGES)}; got {_preview(bad)}")
    else:
        usage = pd.Series([DEFAULT_FOLDER_USAGE] * len(df), index=df.index)
    scored = usage.isin(SCORED_USAGES)
    # Only scored clips need ground truth; Kaggle's unscored "Ignored" padding clips may carry anything.
    no_label = df["fname"][scored & (df["label"] == "")].tolist()
    if no_label:
        problems.append(f"{len(no_label)} scored row(s) without a label: {_preview(no_label)}")
    problems += _unknown_label_problems(df["label"][scored & (df["label"] != "")], classes, vocabulary_name)
    if check_files:
        problems += _missing_file_problems(df["fname"].tolist(), audio_dir)
    if problems:
        raise DatasetError(csv_path, problems)

    index = {c: i for i, c in enumerate(classes)}
    out = pd.DataFrame({
        "fname": df["fname"],
        "label": df["label"].where(df["label"] != "", np.nan),
        "label_index": np.array([index.get(x, UNLABELLED) for x in df["label"]], dtype=np.int64),
        "usage": usage.to_numpy(),
        "path": [str(audio_dir / f) for f in df["fname"]],
    })
    return _with_extras(out, df, TEST_COLUMNS)


def _unlabelled_test(root: Path, test_dir: Path) -> pd.DataFrame:
    """A test set without ground truth: clip names from sample_submission.csv, else the folder's WAVs."""
    submission = root / SAMPLE_SUBMISSION
    if submission.is_file():
        fnames = _read_csv(submission, required=("fname",))["fname"].tolist()
        missing = _missing_file_problems(fnames, test_dir)
        if missing:
            raise DatasetError(submission, missing)
    else:
        fnames = sorted(p.name for p in test_dir.iterdir() if p.suffix.lower() == ".wav" and p.is_file())
    return pd.DataFrame({
        "fname": pd.Series(fnames, dtype=object),
        "label": pd.Series([np.nan] * len(fnames), dtype=object),
        "label_index": np.full(len(fnames), UNLABELLED, dtype=np.int64),
        "usage": pd.Series([np.nan] * len(fnames), dtype=object),
        "path": [str(test_dir / f) for f in fnames],
    })


# --------------------------------------------------------------------------------------------------- checks


def _read_csv(path: Path, required: Iterable[str]) -> pd.DataFrame:
    """Read a CSV as stripped strings ('' for empty cells); error if a required column is missing."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(path, [f"not a readable CSV ({str(exc).strip().splitlines()[0]})"]) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise DatasetError(path, [f"missing column(s) {', '.join(missing)}; found {', '.join(df.columns) or 'none'}"])
    for col in df.columns:
        df[col] = df[col].astype(str).str.strip()
    return df


def _common_problems(df: pd.DataFrame) -> list[str]:
    problems = []
    if df.empty:
        problems.append("no rows")
    empty = int((df["fname"] == "").sum())
    if empty:
        problems.append(f"{empty} row(s) with an empty fname")
    dups = _duplicates(df["fname"][df["fname"] != ""])
    if dups:
        problems.append(f"{len(dups)} fname(s) listed more than once: {_preview(dups)}")
    return problems


def _unknown_label_problems(labels: pd.Series, classes: tuple[str, ...], vocabulary_name: str) -> list[str]:
    known = set(classes)
    counts = labels[~labels.isin(known)].value_counts()
    if counts.empty:
        return []
    named = [f"{label!r} ({n} row{'s' if n > 1 else ''})" for label, n in counts.items()]
    return [f"{len(counts)} label(s) not in {vocabulary_name}: {_preview(named)}"]


def _missing_file_problems(fnames: list[str], audio_dir: Path) -> list[str]:
    if not audio_dir.is_dir():
        return [f"audio folder {audio_dir} does not exist ({len(fnames)} clip(s) expected there)"]
    present = set(os.listdir(audio_dir))
    missing = [f for f in fnames if f and not (f in present if ("/" not in f and os.sep not in f)
                                                else (audio_dir / f).is_file())]
    if not missing:
        return []
    return [f"{len(missing)} of {len(fnames)} audio file(s) missing from {audio_dir}: {_preview(missing)}"]


def _parse_bool(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    lowered = values.str.lower()
    bad = sorted(set(values[~lowered.isin(_TRUE | _FALSE)]))
    return lowered.isin(_TRUE).to_numpy(), bad


def _duplicates(values: Iterable[str]) -> list[str]:
    counts = pd.Series(list(values), dtype=object).value_counts()
    return sorted(counts[counts > 1].index)


def _preview(names: Sequence[str], limit: int = MAX_LISTED) -> str:
    """``a, b, c`` or ``a, ..., j, ... and 15 more (25 in total)``."""
    names = [str(n) for n in names]
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f", ... and {len(names) - limit} more ({len(names)} in total)"
    return shown


def _with_extras(out: pd.DataFrame, df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    extras = [c for c in df.columns if c not in columns]
    for c in extras:
        out[c] = df[c].to_numpy()
    return out.reset_index(drop=True)


def _first_existing(root: Path, candidates: Iterable[str]) -> Path | None:
    for rel in candidates:
        if (root / rel).is_file():
            return root / rel
    return None


def _resolve(root: Path, p: str | os.PathLike) -> Path:
    p = Path(p)
    return (p if p.is_absolute() else root / p).resolve()


def _names(paths: Iterable[str], audio_dir: Path) -> list[str]:
    return [os.path.relpath(p, audio_dir) for p in paths]
