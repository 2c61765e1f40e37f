"""The synthetic corpus on disk: FSDKaggle2018's Kaggle layout, its CSV schema, its quirks, in miniature.

:func:`generate_corpus` writes::

    dest/audio_train/<8 hex digits>.wav      44.1 kHz 16-bit mono PCM
    dest/audio_test/<8 hex digits>.wav
    dest/train_post_competition.csv          fname,label,manually_verified,freesound_id,license
    dest/test_post_competition.csv           fname,label,usage,freesound_id,license
    dest/synth_info.json                     seed, parameters, version, the true class of every noisy label

so :func:`audiotag.data.datasets.load_dataset` reads it exactly like the real dataset. Like FSDKaggle2018 it has

* **unbalanced classes**: per-class counts spread geometrically over FSD's 94..300 ratio;
* **label noise**: about 40% of the training clips are ``manually_verified=1`` (always correct); among the
  others a controlled share carries the label of a *different* class (FSD's unverified labels came from
  Freesound tags and are sometimes wrong). Test labels are all correct;
* **leaderboard usage**: about 19% of the scored test clips are ``Public``, 81% ``Private``, and a few extra
  ``Ignored`` clips (label ``None``) play the role of Kaggle's unscored padding clips;
* **short, skewed durations**: log-normal, clipped to [0.3 s, 30 s].

Every clip has its own random stream, ``np.random.default_rng([seed, clip_index])``, so the corpus is the
same byte for byte whatever the number of worker processes. Audio is written first (each file atomically),
the CSVs and ``synth_info.json`` last: a directory without ``synth_info.json`` is incomplete, and running
again resumes it. A complete directory is not regenerated when asked for the same parameters.
"""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from audiotag.data.audio import write_audio
from audiotag.fileio import read_json, write_json, write_text
from audiotag.data.labels import LABELS, SAMPLE_RATE
from audiotag.data.synth.scene import SceneConfig, apply_scene
from audiotag.data.synth.sounds import SOUND_MODELS

#: Bumped whenever a change makes the generated audio or tables differ for the same parameters.
SYNTH_VERSION = 1
TRAIN_CSV = "train_post_competition.csv"
TEST_CSV = "test_post_competition.csv"
INFO_JSON = "synth_info.json"
#: Written first, removed last: marks a generation in progress (holds the parameters, to resume safely).
PROGRESS_MARKER = ".synth_in_progress.json"
TRAIN_DIR, TEST_DIR = "audio_train", "audio_test"
TRAIN_COLUMNS = ("fname", "label", "manually_verified", "freesound_id", "license")
TEST_COLUMNS = ("fname", "label", "usage", "freesound_id", "license")
LICENSE = "CC0 (synthetic)"
#: Label of the unscored ``Ignored`` test clips, as in Kaggle's post-competition test CSV.
IGNORED_LABEL = "None"
#: Stream id of the corpus plan (class counts, splits, names); clip streams use ids 0, 1, 2, ...
PLAN_STREAM = 2**32 - 1
DEFAULT_CLIPS_PER_CLASS = 20
_FNAME = re.compile(r"^[0-9a-f]{8}\.wav$")


class SynthError(RuntimeError):
    """A synthetic corpus that cannot be generated as asked (the message names the directory and why)."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class CorpusConfig:
    """Everything that shapes the corpus besides the seed (stored in ``synth_info.json``).

    ``clips_per_class`` and ``test_clips_per_class`` are *mean* counts; each class gets a share drawn from
    a geometric spread whose largest/smallest ratio is ``imbalance`` (FSDKaggle2018: 300 / 94).
    ``mislabel_share`` is the share of *unverified* training clips whose label is wrong.
    ``ignored_share`` adds that many unscored test clips, relative to the scored ones.
    Durations: log-normal with median ``duration_median`` (times a class's typical scale) and log-sd
    ``duration_sigma``, clipped to [``min_duration``, ``max_duration``].
    """

    clips_per_class: int = DEFAULT_CLIPS_PER_CLASS
    test_clips_per_class: int = 8
    imbalance: float = 300 / 94
    verified_share: float = 0.4
    mislabel_share: float = 0.12
    public_share: float = 0.19
    ignored_share: float = 0.05
    duration_median: float = 1.4
    duration_sigma: float = 0.7
    min_duration: float = 0.3
    max_duration: float = 30.0
    scene: SceneConfig = field(default_factory=SceneConfig)

    def __post_init__(self):
        if self.clips_per_class < 2 or self.test_clips_per_class < 1:
            raise ValueError("need at least 2 training clips and 1 test clip per class "
                             f"(got {self.clips_per_class} and {self.test_clips_per_class})")
        for name in ("verified_share", "mislabel_share", "public_share", "ignored_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {getattr(self, name)}")
        if not 0 < self.min_duration <= self.duration_median <= self.max_duration:
            raise ValueError("durations must satisfy 0 < min_duration <= duration_median <= max_duration")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ClipSpec:
    """One row of the corpus. ``label`` is what the CSV says; ``true_label`` is the sound that was made."""

    index: int
    split: str                       # "train" or "test"
    fname: str
    label: str
    true_label: str
    manually_verified: int = 0       # train only
    usage: str = ""                  # test only: Public / Private / Ignored
    freesound_id: int = 0

    @property
    def folder(self) -> str:
        return TRAIN_DIR if self.split == "train" else TEST_DIR


# ------------------------------------------------------------------------------------------------ the plan


def class_counts(rng: np.random.Generator, mean: float, imbalance: float, minimum: int) -> np.ndarray:
    """Per-class counts averaging ``mean``, spread geometrically so that max/min ~ ``imbalance``,
    assigned to the classes in a random order."""
    weights = np.geomspace(1.0, imbalance, len(LABELS))
    weights = rng.permutation(weights / weights.mean())
    return np.maximum(minimum, np.round(mean * weights)).astype(int)


def unique_hex_names(rng: np.random.Generator, count: int) -> list[str]:
    """``count`` distinct FSD-style file names: 8 lowercase hex digits + ``.wav``."""
    names: list[str] = []
    seen: set[int] = set()
    while len(names) < count:
        for value in rng.integers(0, 2**32, count - len(names) + 8, dtype=np.uint64):
            if int(value) not in seen and len(names) < count:
                seen.add(int(value))
                names.append(f"{int(value):08x}.wav")
    return names


def plan_corpus(config: CorpusConfig, seed: int) -> list[ClipSpec]:
    """Decide every clip's split, names, CSV label and true class (no audio yet)."""
    rng = np.random.default_rng([seed, PLAN_STREAM])
    train_counts = class_counts(rng, config.clips_per_class, config.imbalance, minimum=2)
    test_counts = class_counts(rng, config.test_clips_per_class, config.imbalance, minimum=1)
    rows: list[dict] = []

    train_rows = []
    for c, label in enumerate(LABELS):
        verified = np.zeros(train_counts[c], dtype=int)
        verified[: max(1, int(round(config.verified_share * train_counts[c])))] = 1
        for v in rng.permutation(verified):
            train_rows.append(dict(split="train", label=label, true_label=label, manually_verified=int(v)))
    unverified = [i for i, r in enumerate(train_rows) if not r["manually_verified"]]
    n_wrong = int(round(config.mislabel_share * len(unverified)))
    for i in rng.choice(unverified, n_wrong, replace=False) if n_wrong else []:
        others = [x for x in LABELS if x != train_rows[i]["label"]]
        train_rows[i]["true_label"] = others[int(rng.integers(len(others)))]
    rows += train_rows

    scored = [dict(split="test", label=label, true_label=label) for c, label in enumerate(LABELS)
              for _ in range(test_counts[c])]
    n_public = int(round(config.public_share * len(scored)))
    public = set(rng.permutation(len(scored))[:n_public].tolist())
    for i, r in enumerate(scored):
        r["usage"] = "Public" if i in public else "Private"
    rows += scored
    n_ignored = int(round(config.ignored_share * len(scored)))
    for _ in range(n_ignored):
        rows.append(dict(split="test", label=IGNORED_LABEL, true_label=LABELS[int(rng.integers(len(LABELS)))],
                         usage="Ignored"))

    names = unique_hex_names(rng, len(rows))
    ids = rng.choice(np.arange(1000, 450000), len(rows), replace=False)
    return [ClipSpec(index=i, fname=names[i], freesound_id=int(ids[i]), **r) for i, r in enumerate(rows)]


# ------------------------------------------------------------------------------------------------ audio


def clip_duration(rng: np.random.Generator, config: CorpusConfig, scale: float) -> float:
    """A log-normal duration (median ``duration_median * scale``), clipped, rounded to whole samples."""
    d = config.duration_median * scale * float(np.exp(rng.normal(0.0, config.duration_sigma)))
    d = float(np.clip(d, config.min_duration, config.max_duration))
    return round(d * SAMPLE_RATE) / SAMPLE_RATE


def render_clip(spec: ClipSpec, config: CorpusConfig, seed: int) -> np.ndarray:
    """The audio of one clip (float32), from its own random stream ``default_rng([seed, spec.index])``."""
    rng = np.random.default_rng([seed, spec.index])
    model = SOUND_MODELS[spec.true_label]
    duration = clip_duration(rng, config, model.duration_scale)
    dry = model.render(rng, duration)
    return apply_scene(rng, dry, config.scene)


def _write_clip(job: tuple[ClipSpec, CorpusConfig, int, str]) -> float:
    """Worker: render and write one clip unless it is already on disk (files are written atomically, so an
    existing file is complete). Returns the clip's duration in seconds."""
    spec, config, seed, dest = job
    path = Path(dest) / spec.folder / spec.fname
    if path.is_file():
        import soundfile as sf

        return sf.info(str(path)).frames / SAMPLE_RATE
    wave = render_clip(spec, config, seed)
    write_audio(path, wave, SAMPLE_RATE)
    return len(wave) / SAMPLE_RATE


# ------------------------------------------------------------------------------------------------ tables


def _csv_text(columns: tuple[str, ...], rows: list[tuple]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def train_table(plan: list[ClipSpec]) -> str:
    rows = sorted((s.fname, s.label, s.manually_verified, s.freesound_id, LICENSE) for s in plan if s.split == "train")
    return _csv_text(TRAIN_COLUMNS, rows)


def test_table(plan: list[ClipSpec]) -> str:
    rows = sorted((s.fname, s.label, s.usage, s.freesound_id, LICENSE) for s in plan if s.split == "test")
    return _csv_text(TEST_COLUMNS, rows)


# ------------------------------------------------------------------------------------------------ corpus


def _identity(config: CorpusConfig, seed: int) -> dict:
    """What makes two corpora the same: generator version, seed and every parameter."""
    return {"generator": "audiotag.synth", "version": SYNTH_VERSION, "seed": int(seed),
            "parameters": config.to_dict()}


def _same(stored: dict, identity: dict) -> bool:
    return all(stored.get(k) == v for k, v in _jsonable(identity).items())


def _jsonable(obj):
    """Tuples become lists, as they do after a JSON round trip, so stored and fresh identities compare."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _describe_difference(stored: dict, identity: dict) -> str:
    identity = _jsonable(identity)
    diffs = []
    for key in ("version", "seed"):
        if stored.get(key) != identity[key]:
            diffs.append(f"{key} {stored.get(key)!r} -> {identity[key]!r}")
    old, new = stored.get("parameters") or {}, identity["parameters"]
    for key in new:
        if old.get(key) != new[key]:
            diffs.append(f"{key} {old.get(key)!r} -> {new[key]!r}")
    return ", ".join(diffs) or "unknown difference"


def _remove_generated(dest: Path) -> None:
    """Remove what a previous generation wrote (only FSD-style hex-named WAVs, the tables and the info)."""
    for name in (INFO_JSON, TRAIN_CSV, TEST_CSV):
        (dest / name).unlink(missing_ok=True)
    for folder in (TRAIN_DIR, TEST_DIR):
        if (dest / folder).is_dir():
            for p in (dest / folder).iterdir():
                if _FNAME.match(p.name):
                    p.unlink()
            if not any((dest / folder).iterdir()):
                shutil.rmtree(dest / folder)


def _prepare_destination(dest: Path, identity: dict, overwrite: bool) -> bool:
    """Check what ``dest`` holds. Returns True if it already holds this exact corpus (nothing to do)."""
    info, marker = dest / INFO_JSON, dest / PROGRESS_MARKER
    if info.is_file() or marker.is_file():
        stored = read_json(info if info.is_file() else marker)
        complete = info.is_file() and (dest / TRAIN_CSV).is_file() and (dest / TEST_CSV).is_file()
        if _same(stored, identity):
            return complete
        if not overwrite:
            state = "a synthetic corpus" if info.is_file() else "a partly generated synthetic corpus"
            raise SynthError(dest, f"already holds {state} made with different parameters "
                                   f"({_describe_difference(stored, identity)}); use another directory, the same "
                                   "parameters, or overwrite=True to replace it")
        _remove_generated(dest)
        return False
    foreign = [name for name in (TRAIN_CSV, TEST_CSV, "train.csv") if (dest / name).exists()]
    foreign += [f"{d}/" for d in (TRAIN_DIR, TEST_DIR) if (dest / d).is_dir() and any((dest / d).iterdir())]
    if foreign:
        raise SynthError(dest, f"holds a dataset that audiotag did not generate ({', '.join(foreign)}); refusing "
                               "to write into it. Choose an empty or new directory")
    return False


def default_workers() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def generate_corpus(dest: str | os.PathLike, *, clips_per_class: int = DEFAULT_CLIPS_PER_CLASS,
                    test_clips_per_class: int | None = None, seed: int = 0, progress: bool = True,
                    workers: int | None = None, overwrite: bool = False,
                    config: CorpusConfig | None = None) -> Path:
    """Generate the synthetic FSD-style corpus in ``dest`` and return its path.

    ``clips_per_class`` (mean training clips per class) and ``test_clips_per_class`` (mean scored test clips
    per class; default ``max(2, round(0.4 * clips_per_class))``, i.e. 8 for the default 20) override the
    fields of ``config`` (default :class:`CorpusConfig`). ``workers`` processes render in parallel (default:
    the available cores, at most 8); the result does not depend on it.

    Idempotent: if ``dest`` already holds a complete corpus with the same seed and parameters this returns
    at once; an interrupted run resumes. A corpus with other parameters raises :class:`SynthError` unless
    ``overwrite=True``; a directory holding other data (such as the real FSDKaggle2018) is never touched.
    """
    if test_clips_per_class is None:
        test_clips_per_class = max(2, int(round(0.4 * clips_per_class)))
    config = replace(config or CorpusConfig(), clips_per_class=int(clips_per_class),
                     test_clips_per_class=int(test_clips_per_class))
    dest = Path(dest)
    if dest.exists() and not dest.is_dir():
        raise SynthError(dest, "exists and is not a directory")
    dest.mkdir(parents=True, exist_ok=True)
    identity = _identity(config, seed)
    if _prepare_destination(dest, identity, overwrite):
        return dest
    write_json(dest / PROGRESS_MARKER, identity)

    plan = plan_corpus(config, seed)
    for folder in (TRAIN_DIR, TEST_DIR):
        (dest / folder).mkdir(exist_ok=True)
    jobs = [(spec, config, int(seed), str(dest)) for spec in plan]
    workers = default_workers() if workers is None else max(1, int(workers))
    durations = _run(jobs, workers, progress)

    write_text(dest / TEST_CSV, test_table(plan))
    write_text(dest / TRAIN_CSV, train_table(plan))
    info = dict(identity)
    info.update({
        "sample_rate": SAMPLE_RATE,
        "counts": {"train": sum(s.split == "train" for s in plan),
                   "train_verified": sum(s.manually_verified for s in plan),
                   "test_scored": sum(s.usage in ("Public", "Private") for s in plan),
                   "test_public": sum(s.usage == "Public" for s in plan),
                   "test_ignored": sum(s.usage == "Ignored" for s in plan)},
        "total_duration_s": round(float(sum(durations)), 3),
        "mislabeled": {s.fname: s.true_label for s in plan if s.split == "train" and s.label != s.true_label},
        "ignored_true_labels": {s.fname: s.true_label for s in plan if s.usage == "Ignored"},
    })
    write_json(dest / INFO_JSON, info)
    (dest / PROGRESS_MARKER).unlink(missing_ok=True)
    return dest


def _run(jobs: list, workers: int, progress: bool) -> list[float]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="synthesising clips", unit="clip", disable=not progress)
    try:
        if workers == 1:
            out = []
            for job in jobs:
                out.append(_write_clip(job))
                bar.update()
            return out
        with ProcessPoolExecutor(max_workers=workers) as pool:
            out = []
            for d in pool.map(_write_clip, jobs, chunksize=4):
                out.append(d)
                bar.update()
            return out
    finally:
        bar.close()


def read_info(root: str | os.PathLike) -> dict:
    """The ``synth_info.json`` of a generated corpus (raises :class:`SynthError` if there is none)."""
    path = Path(root) / INFO_JSON
    if not path.is_file():
        raise SynthError(root, f"no {INFO_JSON}: not a (complete) synthetic corpus")
    return read_json(path)
