"""What real data changes: the results page's comparison of the book built on the synthetic corpus and on real
recordings (a per-class subset of FSDKaggle2018, ``audiotag data download fsdkaggle2018 --per-class N``).

``make book`` writes what it measured to ``build/results.json`` on the synthetic corpus and to
``build/results-<data folder>.json`` on other data (:func:`audiotag.book.build.default_results_path`). Before the
site is rendered, :func:`write_comparison` reads the newest results file of each kind and writes
``book/generated/real_vs_synthetic.md``, which the results page includes:

1. one table, a column per build, of each system's whole test MAP@3 with its 95% bootstrap interval; without a
   synthetic build on this machine the measured one kept in ``book/measured/`` stands in (and says so); without a
   real one, the two commands that make it;
2. *What real data changes*: the orderings side by side (this machine's builds, the real-data measurement reported
   in issue 21 that ``book/measured/real_subset_issue21.json`` records with its provenance, and the paper's
   FSDKaggle2018 scores), and why they differ, with each number from those files.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from audiotag.fileio import write_text

#: The include the results page (``book/results.md``) reads, relative to a book root.
GENERATED_PAGE = Path("book") / "generated" / "real_vs_synthetic.md"
#: The measured builds kept in the repository (relative to a book root).
MEASURED_DIR = Path("book") / "measured"
#: The synthetic build that stands in when this machine has none.
MEASURED_SYNTHETIC = "make_book_latest_bf16.json"
#: The real-data measurement reported in issue 21 (transcribed, with its provenance; not reproduced here).
REPORTED_REAL = "real_subset_issue21.json"
#: FSDKaggle2018's training set, which the paper trained on: clips and classes.
PAPER_TRAIN_CLIPS, PAPER_CLASSES = 9473, 41
#: The two commands of a real build (the README and the page give the same).
COMMANDS = ("audiotag data download fsdkaggle2018 --dest data/fsd-mini --per-class 20",
            "make book DATA=data/fsd-mini")
#: Rows of the comparison: the key in a results file, and how the table names it.
ROWS = {"classic": "classic MFCC statistics + logistic regression", "baseline": "DCASE 2018 baseline",
        "conv1d": "1D-ConvNet", "inception2d": "2D-ConvNet", "rank_ensemble": "rank-averaged ensemble"}


def data_facts(data_dir: str | os.PathLike) -> dict:
    """What a dataset folder holds, for the results file: training clips, classes, clips per class (median, min,
    max), the share of manually verified training labels, the median training clip's length (s) and the scored
    test clips."""
    from audiotag.data.audio import audio_info
    from audiotag.data.datasets import load_dataset
    from audiotag.evaluation.scores import has_test_labels

    dataset = load_dataset(data_dir)
    train = dataset.train
    per_class = train.groupby("label").size()
    seconds = [audio_info(p).duration for p in train["path"]]
    scored = (len(dataset.scored_test())
              if dataset.test is not None and has_test_labels(dataset.test) else 0)
    return {"train_clips": int(len(train)), "classes": int(per_class.size),
            "clips_per_class": {"median": float(per_class.median()), "min": int(per_class.min()),
                                "max": int(per_class.max())},
            "verified_share": round(float(train["manually_verified"].astype(bool).mean()), 4),
            "median_seconds": round(float(np.median(seconds)), 2) if seconds else None,
            "scored_test_clips": int(scored)}


def _read(path: Path) -> dict | None:
    try:
        results = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return results if isinstance(results, dict) and "dataset" in results and "test_map3" in results else None


def latest_builds(results_dir: str | os.PathLike, root: str | os.PathLike) -> dict[str, dict | None]:
    """The newest results file (by its ``date``) of a build on the synthetic corpus and of one on real data in
    ``results_dir`` (``results*.json``; files that are not results files are passed over). Each carries
    ``_file`` (its name); the synthetic one falls back to the measured build of ``root/book/measured``
    (``_measured``: True) when ``results_dir`` has none."""
    from audiotag.training.profiles import data_kind

    found: dict[str, list[dict]] = {"synthetic": [], "real": []}
    folder = Path(results_dir)
    for path in sorted(folder.glob("results*.json")) if folder.is_dir() else []:
        results = _read(path)
        if results is not None and results["test_map3"]:
            found[data_kind(results["dataset"])].append({**results, "_file": path.name})
    latest = {kind: max(builds, key=lambda r: r.get("date", "")) if builds else None for kind, builds in found.items()}
    if latest["synthetic"] is None:
        measured = _read(Path(root) / MEASURED_DIR / MEASURED_SYNTHETIC)
        if measured is not None:
            latest["synthetic"] = {**measured, "_file": MEASURED_SYNTHETIC, "_measured": True}
    return latest


def reported_real(root: str | os.PathLike) -> dict | None:
    """The real-data measurement of issue 21 (``book/measured/real_subset_issue21.json``), or ``None``."""
    path = Path(root) / MEASURED_DIR / REPORTED_REAL
    return json.loads(path.read_text()) if path.is_file() else None


def _score(entry: dict | None) -> str:
    """``0.796 (0.757–0.834)``, ``0.796`` without an interval (as the README's table writes them), ``–`` for a
    system the build did not score."""
    import pandas as pd

    from audiotag.book.results import _whole

    return _whole(pd.Series(entry)) if entry and "whole" in entry else "–"


def _describe(build: dict) -> str:
    """``synthetic, cpu profile, 821 training clips of 41 classes``, as much as the results file says."""
    facts = build.get("data") or {}
    text = f"{build['dataset']}, {build['profile']} profile"
    if facts:
        text += f", {facts['train_clips']:,} training clips of {facts['classes']} classes"
    return text


def comparison_table(builds: list[dict]) -> str:
    """A Markdown table: a row per system, a column per build (its test MAP@3 with the 95% interval)."""
    head = "| system (whole test MAP@3, 95% interval) | " + " | ".join(_describe(b) for b in builds) + " |"
    lines = [head, "|:--|" + "--:|" * len(builds)]
    for key, name in ROWS.items():
        if any(key in b["test_map3"] for b in builds):
            lines.append(f"| {name} | " + " | ".join(_score(b["test_map3"].get(key)) for b in builds) + " |")
    return "\n".join(lines)


def _ordering(scores: dict[str, float]) -> str:
    """``classic 0.580 < baseline 0.659 < 1D 0.744``: the systems from weakest to strongest."""
    from audiotag.book.results import SHORT_NAMES

    ranked = sorted((v, k) for k, v in scores.items() if k in SHORT_NAMES)
    return " < ".join(f"{SHORT_NAMES[k]} {v:.3f}" for v, k in ranked)


def _wholes(build: dict) -> dict[str, float]:
    from audiotag.book.results import _systems

    return {k: v["whole"] for k, v in _systems(build).items()}


def _facts_sentence(build: dict, what: str) -> str:
    facts = build.get("data") or {}
    if not facts:
        return ""
    per = facts["clips_per_class"]
    spread = (f"{per['min']} per class" if per["min"] == per["max"] else
              f"{per['min']} to {per['max']} per class, median {per['median']:g}")
    return (f"{what} holds {facts['train_clips']:,} training clips of {facts['classes']} classes ({spread}), "
            f"{facts['verified_share']:.0%} of their labels "
            f"manually verified, the median clip {facts['median_seconds']:g} s long, and "
            f"{facts['scored_test_clips']} scored test clips. ")


def comparison_markdown(results_dir: str | os.PathLike, root: str | os.PathLike) -> str:
    """The generated part of the results page: the table of the newest synthetic and real builds, and the section
    on what real data changes (see the module docstring)."""
    builds = latest_builds(results_dir, root)
    synthetic, real = builds["synthetic"], builds["real"]
    reported = reported_real(root)
    out = []
    shown = [b for b in (synthetic, real) if b is not None]
    if synthetic is not None and synthetic.get("_measured"):
        out.append(f"No build on the synthetic corpus on this machine yet: its column is the measured build kept in "
                   f"`book/measured/{synthetic['_file']}` ({synthetic.get('commit') or 'unknown commit'}, "
                   f"{synthetic.get('date', 'undated')}).")
    if real is None:
        from audiotag.data.subset import estimated_bytes

        out.append(f"No build on real recordings on this machine yet. Two commands make one (a download of about "
                   f"{estimated_bytes(20) / 1e9:.1f} GB for 20 training and 10 test clips per class, then the whole "
                   f"book on it with the `cpu` profile); the table then gains its column:\n\n```bash\n"
                   + "\n".join(COMMANDS) + "\n```")
    else:
        out.append(f"Both kinds of data were built on this machine: `build/{real['_file']}` "
                   f"({real.get('date', 'undated')}) beside "
                   + ("the measured synthetic build." if synthetic and synthetic.get("_measured") else
                      f"`build/{synthetic['_file']}` ({synthetic.get('date', 'undated')})." if synthetic else "."))
    if shown:
        out.append(comparison_table(shown))
    out.append("### What real data changes\n\n" + _what_changes(synthetic, real, reported))
    return "\n\n".join(out) + "\n"


def _what_changes(synthetic: dict | None, real: dict | None, reported: dict | None) -> str:
    from audiotag.evaluation.paper_results import LEADERBOARD

    paras = []
    if synthetic is not None:
        paras.append(
            f"**On the synthetic corpus** the order is the paper's: {_ordering(_wholes(synthetic))} (whole test "
            f"MAP@3, {synthetic['profile']} profile). " + _facts_sentence(synthetic, "That corpus")
            + f"Each of its classes is one procedural recipe with random parameters, so "
              f"{_per_class(synthetic, 'a few dozen')} clips show a class most of the ways it can sound, and the "
              "networks' extra capacity pays off at once.")
    if real is not None:
        from audiotag.book.results import differences_markdown, floor_gaps

        text = (f"**On the real recordings built here** the order is {_ordering(_wholes(real))} "
                f"({real['profile']} profile). " + _facts_sentence(real, "That subset") + floor_gaps(real))
        differences = differences_markdown(real)
        paras.append(text + (f"\n\n{differences}" if differences else ""))
    if reported is not None:
        oof = reported["oof_map3"]
        paras.append(
            f"**On real recordings at laptop scale**, {reported['source']}: {reported['train_clips']} clips of "
            f"{reported['classes']} classes, {reported['protocol']} ({reported['minutes']:g} min on "
            f"{reported['machine']}), gave out-of-fold MAP@3 {_ordering(oof)} (chance "
            f"{(1 + 1 / 2 + 1 / 3) / reported['classes']:.3f}). The 2D-ConvNet only ties the classic floor "
            f"({oof['inception2d'] - oof['classic']:+.3f}) and the 1D-ConvNet falls "
            f"{oof['classic'] - oof['conv1d']:.3f} below it. These are the issue's numbers, not a build of this "
            f"book" + ("." if real is not None else ": a real column appears in the table above only once someone "
                       "has run the two commands (the machine that builds this book's measured versions cannot "
                       "reach Zenodo)."))
    paper = {s.system: s for s in LEADERBOARD}
    ens, best2d = paper["submission 2 (rank-averaged ensemble)"], paper["2D-ConvNet log-mel (best)"]
    base, one_d = paper["baseline (5 epochs)"], paper["1D-ConvNet 3 s"]
    paras.append(
        f"**On all of FSDKaggle2018** ({PAPER_TRAIN_CLIPS:,} training clips, about "
        f"{PAPER_TRAIN_CLIPS / PAPER_CLASSES:.0f} per class) the paper's public leaderboard scores order them "
        f"again: baseline {base.public:.3f} < 1D {one_d.public:.3f} < 2D {best2d.public:.3f} < ensemble "
        f"{ens.public:.3f}.")
    paras.append(
        "Why real recordings at laptop scale differ from both: **variety within a class.** A real class gathers recordings by "
        "thousands of Freesound users, with their own microphones, rooms, performers and lengths; twenty or thirty "
        "of them sample it thinly. Averaged MFCCs summarise a whole clip in a few numbers and need few examples to "
        "place a class; a network of millions of weights needs many to learn which differences matter and which do "
        "not, and until it has them it memorises its few clips. **The 1D net's appetite** is the largest: it must "
        "learn its own filterbank from raw samples, where the 2D net starts from a log-mel spectrogram (a fixed, "
        "hearing-shaped front end) and the floor from MFCCs; even on all of FSDKaggle2018 it stays below the 2D "
        "net. **Label noise** weighs more when clips are few: one wrong label among twenty is 5% of a class; the "
        "subset download takes verified clips first for that reason (`--verified-only` takes nothing else)."
        + _noise_sentence(synthetic) + _scale_sentence(real, reported))
    return "\n\n".join(paras)


def _per_class(build: dict, otherwise: str) -> str:
    facts = build.get("data") or {}
    return f"{facts['clips_per_class']['median']:g}" if facts else otherwise


def _noise_sentence(synthetic: dict | None) -> str:
    """How wide a test interval is at a few hundred clips, from the synthetic build's widest one."""
    entries = [v for v in (synthetic or {}).get("test_map3", {}).values()
               if isinstance(v, dict) and "whole_low" in v and "whole_high" in v]
    if not entries:
        return ""
    widest = max(entries, key=lambda v: v["whole_high"] - v["whole_low"])
    half = (widest["whole_high"] - widest["whole_low"]) / 2
    clips = widest.get("whole_clips")
    return (f" And **the test set is small**: over {clips or 'a few hundred'} scored clips the synthetic build's "
            f"widest 95% interval spans ±{half:.3f}, so two systems that close are tied, not ranked.")


def _scale_sentence(real: dict | None, reported: dict | None) -> str:
    """How many more clips per class the paper had than the real data at laptop scale."""
    if real is not None and real.get("data"):
        per_class, what = real["data"]["clips_per_class"]["median"], "the subset built here"
    elif reported is not None:
        per_class, what = reported["train_clips"] / reported["classes"], "the issue's set"
    else:
        return ""
    ratio = PAPER_TRAIN_CLIPS / PAPER_CLASSES / per_class
    return (f" The paper had about {ratio:.0f} times the clips per class of {what} ({per_class:g}), and there its "
            f"networks pull far ahead of the baseline.")


def write_comparison(root: str | os.PathLike, results_dir: str | os.PathLike) -> Path:
    """Write :data:`GENERATED_PAGE` under ``root`` from the results files in ``results_dir`` (atomically)."""
    path = Path(root) / GENERATED_PAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, comparison_markdown(results_dir, root))
    return path
