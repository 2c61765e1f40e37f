"""Projected wall time of the paper reproduction (``make book PROFILE=paper``) on 1 and on 8 GPUs.

The issue's goal: the whole reproduction in at most 30 minutes on 8 H100s. This script says whether a measured
throughput meets it, and prints every assumption the answer rests on.

**What trains** is read from the code that trains it, not retyped: chapter 3 trains the 1D net's main run and the
rows of Table 3 (``TABLE3_CROPS["paper"]``), chapter 4 the 2D net's main run and the rows of Table 4 (the chapter's
``compared_features``), chapter 5 the baseline's ``baseline_folds``; every row is a run of ``STUDY_PROTOCOL["paper"]``
(all folds, early stopping), and the row whose settings are the main run's is the main run itself, not trained again
(:func:`audiotag.evaluation.studies.reuses_main_run`).

**Throughput** is measured at paper sizes for every setting that trains (each crop length, each feature), with
``benchmarks/train_throughput.py``'s bench (:func:`train_throughput.make_bench`: a clip bank of FSD-length clips,
the end-to-end training step at ``precision=auto``), plus the validation path the trainer uses
(:func:`audiotag.training.validation.predict_bank`, windows per clip as for FSDKaggle2018's clip lengths) and the
cost of banking a clip (decoding a 44.1 kHz WAV, computing its features). ``--throughput FILE`` reads numbers
measured elsewhere (the ``throughput`` part of this script's ``--out`` JSON, e.g. from an H100).

**One fold job** = bank loading + epochs x (a training epoch + a validation pass) + scoring its held-out clips again
with the best weights + its test predictions. **Schedules**: 1 GPU (``--jobs 1``: each run loads its banks once and
trains its folds one after the other); G GPUs as the book runs with ``JOBS=G`` (run after run, each run's folds as
parallel jobs, each job loading its own banks); and a lower bound for G GPUs: every fold job of the reproduction
packed onto the G GPUs at once (longest first).

Usage::

    python benchmarks/paper_projection.py --device cpu --steps 1        # measure here (briefly), project
    python benchmarks/paper_projection.py --device cuda --out build/paper_projection.json
    python benchmarks/paper_projection.py --throughput build/paper_projection.json --gpus 1,4,8
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bank_memory import clip_seconds
from train_throughput import FSD_MEAN_CLIP_SECONDS, FSD_TRAIN_CLIPS, PROJECTED_EPOCHS, make_bench, time_steps

from audiotag.book.exercises.ch7_tagging import window_starts
from audiotag.evaluation.paper_results import table3
from audiotag.evaluation.studies import reuses_main_run
from audiotag.training.devices import machine_info, resolve_device, resolve_precision, synchronize
from audiotag.training.profiles import TABLE3_CROPS, make_config, study_settings

REPO = Path(__file__).resolve().parents[1]
#: The scored test clips of FSDKaggle2018 (the Zenodo release), predicted by every fold of the main runs.
FSD_TEST_CLIPS = 1600
#: The goal of the issue: the whole reproduction in this many minutes on this many H100s.
GOAL_MINUTES, GOAL_GPUS = 30.0, 8
#: Threads that read and decode clips while a bank is built (audiotag.training.trainer._Engine.load_bank).
LOADER_THREADS = 4


@dataclasses.dataclass
class Run:
    """One training run of the reproduction: where it is trained, its config, and how many epochs it is assumed
    to run (``epochs``: typical; ``fastest`` / ``slowest``: what the schedule allows)."""

    chapter: str
    name: str
    config: object
    folds: list[int]
    predict_test: bool
    epochs: int
    epochs_source: str

    @property
    def setting(self) -> str:
        c = self.config
        return f"{c.model} {c.features.kind} {c.crop_seconds:.3g} s"

    @property
    def fastest(self) -> int:      # the best epoch is the first: early stopping ends it `patience` epochs later
        return min(self.config.early_stop_patience + 1, self.config.max_epochs)

    @property
    def slowest(self) -> int:
        return self.config.max_epochs


# --------------------------------------------------------------------------------------------------------------
# What the book trains under the paper profile
# --------------------------------------------------------------------------------------------------------------
def notebook_parameter(notebook: str, name: str):
    """The default of a chapter's parameter, read from its parameters cell (so that this script follows the book)."""
    import nbformat

    nb = nbformat.read(str(REPO / "notebooks" / f"{notebook}.ipynb"), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    for node in ast.parse(cell.source).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(f"{notebook}: no parameter {name!r}")


def planned_runs(profile: str = "paper") -> tuple[list[Run], list[str]]:
    """The runs ``make book PROFILE=profile`` trains, in the book's order, and the study rows it reads from a
    main run instead of training them."""
    stops = table3()["stopping epoch"]
    runs, reused = [], []

    def epochs_1d(crop):
        key = f"{crop:g} s"
        if key in stops.index:
            return int(stops[key]), f"the paper's Table 3 ({key}: stopped at epoch {int(stops[key])})"
        return PROJECTED_EPOCHS["conv1d"], "assumed (no Table 3 row for this length)"

    main_1d = make_config("conv1d", None, profile)
    runs.append(Run("03", "1d", main_1d, list(range(main_1d.n_folds)), True, *epochs_1d(main_1d.crop_seconds)))
    for crop in TABLE3_CROPS[profile]:
        row = make_config("conv1d", None, profile, crop_seconds=crop, **study_settings(profile, model="conv1d"))
        if reuses_main_run(row, main_1d):
            reused.append(f"Table 3, {crop:g} s: the 1D main run")
            continue
        runs.append(Run("03", f"table3/crop_{crop:g}s", row, _folds(row), True, *epochs_1d(crop)))

    main_2d = make_config("inception2d", None, profile)
    epochs_2d = (PROJECTED_EPOCHS["inception2d"], f"assumed: the paper gives no 2D count (early stop after "
                 f"{main_2d.early_stop_patience} epochs without improvement)")
    runs.append(Run("04", "2d", main_2d, list(range(main_2d.n_folds)), True, *epochs_2d))
    for kind in notebook_parameter("04_inception2d", "compared_features"):
        row = make_config("inception2d", kind, profile, **study_settings(profile, model="inception2d"))
        if reuses_main_run(row, main_2d):
            reused.append(f"Table 4, {kind}: the 2D main run")
            continue
        runs.append(Run("04", f"table4/{kind}", row, _folds(row), False, *epochs_2d))   # validation only

    folds = notebook_parameter("05_ensemble", "baseline_folds")
    base = make_config("baseline", None, profile, folds=folds)
    runs.append(Run("05", "baseline", base, _folds(base), True, PROJECTED_EPOCHS["baseline"],
                    "assumed (the released baseline trained 5 epochs; early stopping decides here)"))
    return runs, reused


def _folds(config) -> list[int]:
    return list(range(config.n_folds)) if config.folds is None else list(config.folds)


# --------------------------------------------------------------------------------------------------------------
# Throughput at paper sizes
# --------------------------------------------------------------------------------------------------------------
def mean_windows(crop_seconds: float, max_crops: int, max_clip_seconds: float | None) -> float:
    """Windows per clip the trainer scores, averaged over FSDKaggle2018-like clip lengths (bank_memory's
    log-normal, 0.3-30 s, mean 6.8 s; clips cut at ``max_clip_seconds``)."""
    lengths = clip_seconds(20000)
    if max_clip_seconds:
        lengths = np.minimum(lengths, max_clip_seconds)
    ms = (lengths * 1000).round().astype(int)
    crop = int(round(crop_seconds * 1000))
    return float(np.mean([len(window_starts(n, crop, max_crops=max_crops)) for n in ms]))


def measure(setting_runs: dict[str, Run], device, steps: int, batch: int | None, eval_clips: int) -> dict:
    """``{setting: {train_clips_s, eval_clips_s, load_s_per_clip, batch, ...}}`` measured here for each setting."""
    from audiotag.data.audio import load_audio, write_audio
    from audiotag.training.validation import predict_bank

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "clip.wav"
        rng = np.random.default_rng(0)
        write_audio(wav, (0.1 * rng.standard_normal(int(44100 * FSD_MEAN_CLIP_SECONDS))).astype(np.float32))
        for setting, run in setting_runs.items():
            t0 = time.perf_counter()
            c = run.config
            bench = make_bench(c.model, "paper", device, batch, c.features.kind, crop_seconds=c.crop_seconds)
            amp = resolve_precision("auto", device)
            train_s = time_steps(lambda: bench.full_step(amp), steps, device) / bench.batch

            # validation as the trainer does it, on bank clips of FSD's mean length; per FSD-like clip below
            inference = bench.config.inference
            n = min(eval_clips, len(bench.bank))
            kw = dict(batch_size=bench.config.eval_batch_size, amp_dtype=amp, channels_last=bench.channels_last)
            predict_bank(bench.model, bench.bank, bench.pipeline, inference, torch.arange(min(2, n)), **kw)  # warm-up
            synchronize(device)
            t = time.perf_counter()
            predict_bank(bench.model, bench.bank, bench.pipeline, inference, torch.arange(n), **kw)
            synchronize(device)
            windows_here = len(window_starts(int(FSD_MEAN_CLIP_SECONDS * 1000), int(inference.crop_seconds * 1000),
                                             max_crops=inference.max_crops))
            windows_s = n * windows_here / (time.perf_counter() - t)
            per_clip = mean_windows(inference.crop_seconds, inference.max_crops, c.max_clip_seconds)

            # banking one clip: decode (LOADER_THREADS at once) + its full-clip features on the device (one at a time)
            decode = _time(lambda: load_audio(wav, c.features.sample_rate), 3)
            wave = load_audio(wav, c.features.sample_rate)
            item = _time(lambda: bench.pipeline.clip_item(wave), 3, device)
            out[setting] = {"batch": bench.batch, "train_clips_s": 1.0 / train_s,
                            "eval_windows_s": windows_s, "windows_per_clip": per_clip,
                            "eval_clips_s": windows_s / per_clip,
                            "decode_s": decode, "item_s": item, "load_s_per_clip": decode / LOADER_THREADS + item,
                            "measure_s": round(time.perf_counter() - t0, 1)}
            print(f"measured {setting}: {out[setting]['train_clips_s']:.1f} training clips/s, "
                  f"{out[setting]['eval_clips_s']:.1f} validation clips/s ({time.perf_counter() - t0:.0f} s)",
                  file=sys.stderr, flush=True)
            bench = None     # free the bank and the model before the next setting's
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return out


def scale_rows(runs: list[Run], measured: dict, device) -> tuple[dict, str]:
    """Throughput of the study rows from their main run's (measured): a 1D row's training and validation cost
    scale with its crop length (the 1D net is convolutions and a global pooling: its cost is linear in the input's
    length; a shorter crop also means more windows per clip, counted exactly); a 2D row feeds the same 299 x 299
    images to the same network, so only its banking (features of whole clips, measured) differs."""
    from audiotag.training.pipeline import InputPipeline

    mains = {r.config.model: r for r in runs if "/" not in r.name}
    out = dict(measured)
    for run in runs:
        if run.setting in out:
            continue
        main = mains[run.config.model]
        base = dict(measured[main.setting])
        if run.config.model == "conv1d":
            ratio = main.config.crop_seconds / run.config.crop_seconds
            inf = run.config.inference
            per_clip = mean_windows(inf.crop_seconds, inf.max_crops, run.config.max_clip_seconds)
            base.update(train_clips_s=base["train_clips_s"] * ratio, eval_windows_s=base["eval_windows_s"] * ratio,
                        windows_per_clip=per_clip, eval_clips_s=base["eval_windows_s"] * ratio / per_clip)
        # the row decodes at the main run's sample rate; its features of whole clips are its own
        pipeline = InputPipeline(run.config.features, device)
        wave = (0.1 * np.random.default_rng(0).standard_normal(
            int(run.config.features.sample_rate * FSD_MEAN_CLIP_SECONDS))).astype(np.float32)
        base.update(item_s=_time(lambda: pipeline.clip_item(wave), 3, device), scaled_from=main.setting)
        base["load_s_per_clip"] = base["decode_s"] / LOADER_THREADS + base["item_s"]
        out[run.setting] = base
    note = ("Study rows scaled from their main run's measurement (--rows scale): a 1D row's training and validation "
            "speed times (main crop / row crop), with its own windows per clip; a 2D row at the main run's speed "
            "(same network, same 299 x 299 input), with its own banking cost (measured).")
    return out, note


def _time(fn, repeats: int, device=None) -> float:
    fn()
    if device is not None:
        synchronize(device)
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device is not None:
        synchronize(device)
    return (time.perf_counter() - t) / repeats


# --------------------------------------------------------------------------------------------------------------
# The projection
# --------------------------------------------------------------------------------------------------------------
def fold_job_seconds(run: Run, tp: dict, epochs: int) -> dict:
    """The parts of one fold job's time (seconds) at ``epochs`` epochs."""
    c = run.config
    n_val = FSD_TRAIN_CLIPS / c.n_folds
    n_train = FSD_TRAIN_CLIPS - n_val
    n_test = FSD_TEST_CLIPS if run.predict_test else 0
    per_epoch_train = (n_train // c.batch_size) * c.batch_size / tp["train_clips_s"]     # full batches only
    validated = max(0, epochs - (c.val_from_epoch - 1))
    val = n_val / tp["eval_clips_s"]
    rescore = val if epochs < c.max_epochs else 0.0    # early stopped: the best epoch is not the last
    return {"load": (FSD_TRAIN_CLIPS + n_test) * tp["load_s_per_clip"],
            "train": epochs * per_epoch_train + validated * val + rescore + n_test / tp["eval_clips_s"]}


def lpt_makespan(durations: list[float], machines: int) -> float:
    """Longest-processing-time-first packing of independent jobs onto ``machines``: the makespan."""
    loads = [0.0] * machines
    for d in sorted(durations, reverse=True):
        loads[loads.index(min(loads))] += d
    return max(loads)


def project(runs: list[Run], throughput: dict, gpus: list[int], overhead_min: float) -> dict:
    """Minutes of the reproduction for each GPU count, schedule and epoch scenario."""
    scenarios = {"fastest": lambda r: r.fastest, "typical": lambda r: r.epochs, "slowest": lambda r: r.slowest}
    result = {"per_run": [], "totals": {}}
    for run in runs:
        tp = throughput[run.setting]
        job = fold_job_seconds(run, tp, run.epochs)
        result["per_run"].append({"chapter": run.chapter, "run": run.name, "setting": run.setting,
                                  "folds": len(run.folds), "epochs": run.epochs,
                                  "fold_job_min": (job["load"] + job["train"]) / 60,
                                  "one_gpu_min": (job["load"] + len(run.folds) * job["train"]) / 60})
    for g in gpus:
        for name, epochs_of in scenarios.items():
            one_gpu = book = 0.0
            all_jobs = []
            for run in runs:
                job = fold_job_seconds(run, throughput[run.setting], epochs_of(run))
                one_gpu += job["load"] + len(run.folds) * job["train"]       # jobs=1: banks loaded once per run
                book += math.ceil(len(run.folds) / g) * (job["load"] + job["train"])
                all_jobs += [job["load"] + job["train"]] * len(run.folds)
            if g == 1:
                rows = {"book": one_gpu}
            else:
                rows = {"book": book, "packed": lpt_makespan(all_jobs, g)}
            for schedule, seconds in rows.items():
                result["totals"].setdefault(f"{g}", {}).setdefault(schedule, {})[name] = seconds / 60 + overhead_min
    return result


def goal_check(projection: dict, overhead_min: float, gpu_name: str, measured_on_gpu: bool) -> dict:
    """Whether the 8-GPU projection (typical epochs) meets the goal, and the speed-up it would need."""
    totals = projection["totals"].get(str(GOAL_GPUS))
    if totals is None:
        return {"checked": False, "text": f"no projection for {GOAL_GPUS} GPUs (add it to --gpus)"}
    book, packed = totals["book"]["typical"], totals["packed"]["typical"]
    need = ((book - overhead_min) / (GOAL_MINUTES - overhead_min)) if GOAL_MINUTES > overhead_min else math.inf
    need_packed = ((packed - overhead_min) / (GOAL_MINUTES - overhead_min)) if GOAL_MINUTES > overhead_min \
        else math.inf
    verdict = "meets" if book <= GOAL_MINUTES else "misses"
    text = (f"With this throughput ({gpu_name}), {GOAL_GPUS} devices take {book:.0f} min as the book runs "
            f"(JOBS={GOAL_GPUS}, typical epochs): it {verdict} the goal of {GOAL_MINUTES:.0f} min on {GOAL_GPUS} "
            f"H100s")
    if book > GOAL_MINUTES:
        text += (f"; it needs every rate above {need:.1f}x faster (packing every fold job at once: {packed:.0f} "
                 f"min, {need_packed:.1f}x)")
    text += "."
    if not measured_on_gpu:
        text += (f" These are not GPU numbers: they say what {GOAL_GPUS} devices like this one would take. No GPU "
                 f"was measured here; run `--device cuda` on an H100, or pass `--throughput` with numbers measured "
                 f"on one, to check the goal itself.")
    return {"checked": measured_on_gpu, "meets": book <= GOAL_MINUTES, "book_min": book, "packed_min": packed,
            "speedup_needed": need, "text": text}


# --------------------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------------------
def assumptions(runs: list[Run], reused: list[str], throughput: dict, source: str, overhead_min: float,
                batch_note: str) -> list[str]:
    out = [f"FSDKaggle2018: {FSD_TRAIN_CLIPS} training clips (a fold validates 1/K of them and trains on the rest, "
           f"full batches only), {FSD_TEST_CLIPS} scored test clips (the Zenodo release), predicted by every fold "
           f"of the runs that keep test predictions (Table 4's rows skip them).",
           f"Clip lengths as FSDKaggle2018's (benchmarks/bank_memory.py: log-normal, 0.3-30 s, mean "
           f"{FSD_MEAN_CLIP_SECONDS} s): they set the windows per clip at validation (at most the profile's "
           f"max_crops, overlapping by at least half); the training and validation benches hold clips of the mean "
           f"length.",
           f"Throughput: {source}. {batch_note}",
           "Training runs at precision=auto (bf16 where the device has it natively), end to end: crops from the "
           "clip bank, features, augmentation, forward, backward, Adam (train_throughput.make_bench).",
           "Every epoch validates the fold's held-out clips (val_from_epoch=1 under paper) with every window; after "
           "early stopping the held-out clips are scored once more with the best weights, then the test clips.",
           f"Banking a clip = decoding its WAV ({LOADER_THREADS} reader threads at once) + its full-clip features "
           f"on the device; as the book runs with JOBS>1 every fold job builds its own banks (the training clips, "
           f"and the test clips where it predicts them); with JOBS=1 a run builds them once for all its folds.",
           "Epochs per fold (typical): " + "; ".join(
               f"{', '.join(names)}: {epochs}, {source}" for (epochs, source), names in _grouped(runs).items()) + ".",
           "Epoch bounds: fastest = early_stop_patience + 1 (the first epoch is the best), slowest = max_epochs "
           "(the best keeps improving): "
           + "; ".join(sorted({f"{r.config.model}: {r.fastest}-{r.slowest}" for r in runs})) + ".",
           "Study rows that are the main run are not trained: " + ("; ".join(reused) or "none") + ".",
           f"The rest of the book (chapters 1, 2, 6, 7 with its ONNX export, the tables' scoring, the site): "
           f"{overhead_min:g} min, assumed (--overhead-min), not measured at FSDKaggle2018 scale.",
           "G GPUs as the book runs (JOBS=G): one run after the other, its folds as parallel jobs (a 7-fold run on "
           "8 GPUs takes one fold's time, on 4 GPUs two); 'packed' is a lower bound: every fold job of the "
           "reproduction submitted at once and packed longest-first onto the G GPUs (the book does not do this).",
           "Each GPU trains as fast as the measured device, whatever the others do (no shared-disk or CPU limit), "
           "and jobs start at once (no queue wait on a cluster)."]
    return out


def _grouped(runs: list[Run]) -> dict[tuple[int, str], list[str]]:
    """Runs by (epochs, where that number comes from), for one line per assumption."""
    groups: dict[tuple[int, str], list[str]] = {}
    for r in runs:
        groups.setdefault((r.epochs, r.epochs_source), []).append(r.name)
    return groups


def markdown(report: dict) -> str:
    tp, proj = report["throughput"], report["projection"]
    lines = ["# Projected wall time of the paper reproduction", "",
             f"Throughput: {report['throughput_source']}.", "",
             "| setting | batch | training clips/s | validation clips/s (windows/clip) | banking ms/clip |",
             "|:--|--:|--:|--:|--:|"]
    for setting, t in tp.items():
        lines.append(f"| {setting} | {t.get('batch', '')} | {t['train_clips_s']:.1f} | {t['eval_clips_s']:.1f} "
                     f"({t.get('windows_per_clip', float('nan')):.2f}) | {1000 * t['load_s_per_clip']:.1f} |")
    lines += ["", "What trains (typical epochs):", "",
              "| chapter | run | setting | folds | epochs | one fold job (min) | the run on 1 GPU (min) |",
              "|:--|:--|:--|--:|--:|--:|--:|"]
    for r in proj["per_run"]:
        lines.append(f"| {r['chapter']} | {r['run']} | {r['setting']} | {r['folds']} | {r['epochs']} | "
                     f"{r['fold_job_min']:.1f} | {r['one_gpu_min']:.1f} |")
    lines += ["", "The whole reproduction (minutes, including the rest of the book):", "",
              "| GPUs | schedule | fastest epochs | typical epochs | slowest epochs |", "|--:|:--|--:|--:|--:|"]
    for g, schedules in proj["totals"].items():
        for schedule, v in schedules.items():
            label = {"book": "as the book runs" + ("" if g == "1" else f" (JOBS={g})"),
                     "packed": "every fold job at once (lower bound)"}[schedule]
            lines.append(f"| {g} | {label} | {v['fastest']:.0f} | {v['typical']:.0f} | {v['slowest']:.0f} |")
    lines += ["", f"**Goal** ({GOAL_MINUTES:.0f} min on {GOAL_GPUS} H100s): {report['goal']['text']}", "",
              "Assumptions:", ""]
    lines += [f"{i}. {a}" for i, a in enumerate(report["assumptions"], start=1)]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="auto", help="where to measure: auto | cpu | cuda")
    p.add_argument("--throughput", default=None, metavar="JSON",
                   help="use these numbers instead of measuring (this script's --out, or its 'throughput' part)")
    p.add_argument("--steps", type=int, default=None, help="timed training steps per setting (default: 3 on a GPU, "
                   "1 on a CPU)")
    p.add_argument("--batch", type=int, default=None, help="training batch of the measurement (default: the "
                   "profile's on a GPU, 4 on a CPU, where clips/s barely depends on it)")
    p.add_argument("--eval-clips", type=int, default=None, help="bank clips scored for the validation speed "
                   "(default 256 on a GPU, 4 on a CPU)")
    p.add_argument("--rows", choices=("measure", "scale"), default=None, help="the study rows' throughput: measured "
                   "one by one, or scaled from their main run's (default: measure on a GPU, scale on a CPU)")
    p.add_argument("--gpus", default="1,8", help="GPU counts to project for (default 1,8)")
    p.add_argument("--overhead-min", type=float, default=5.0, help="minutes of the book that are not training "
                   "(assumed; default 5)")
    p.add_argument("--out", default=None, help="also write the report as JSON here")
    args = p.parse_args(argv)

    runs, reused = planned_runs("paper")
    settings = {}
    for run in runs:
        settings.setdefault(run.setting, run)
    if args.throughput:
        loaded = json.loads(Path(args.throughput).read_text())
        throughput = loaded.get("throughput", loaded)
        missing = sorted(set(settings) - set(throughput))
        if missing:
            raise SystemExit(f"{args.throughput}: no throughput for {missing}")
        device_name = loaded.get("device", f"numbers from {args.throughput}")
        on_gpu = bool(loaded.get("measured_on_gpu", False))
        source = f"read from {args.throughput} (measured on {device_name})"
        batch_note = loaded.get("batch_note", "")
    else:
        device = resolve_device(args.device)
        on_gpu = device.type == "cuda"
        steps = args.steps or (3 if on_gpu else 2)
        batch = args.batch or (None if on_gpu else 8)
        eval_clips = args.eval_clips or (256 if on_gpu else 8)
        rows = args.rows or ("measure" if on_gpu else "scale")
        info = machine_info(device)
        device_name = (torch.cuda.get_device_name(device) if on_gpu
                       else f"{device.type}: {info['cpu']}, {torch.get_num_threads()} threads")
        if not on_gpu:
            print(f"No GPU here (torch.cuda.is_available() is {torch.cuda.is_available()}): measuring on "
                  f"{device_name}, {steps} step(s) per setting, batch {batch}.", file=sys.stderr, flush=True)
        if rows == "measure":
            throughput = measure(settings, device, steps, batch, eval_clips)
            rows_note = ""
        else:
            mains = {s: r for s, r in settings.items() if "/" not in r.name}
            throughput, rows_note = scale_rows(runs, measure(mains, device, steps, batch, eval_clips), device)
        source = (f"measured on {device_name} (torch {torch.__version__}), {steps} timed step(s) per setting, "
                  f"{eval_clips} clips scored for validation")
        batch_note = ("Training batches: the profile's (128 for the 1D net, 16 for the 2D net)." if batch is None else
                      f"Measured with batches of {batch} instead of the profile's 128 / 16 (on a CPU the clips/s "
                      f"barely depend on the batch; on a GPU they do: measure there with the profile's).")
        batch_note = f"{batch_note} {rows_note}".strip()
    gpus = [int(g) for g in args.gpus.split(",")]
    projection = project(runs, throughput, gpus, args.overhead_min)
    report = {"device": device_name, "measured_on_gpu": on_gpu, "throughput_source": source,
              "batch_note": batch_note, "throughput": throughput, "projection": projection,
              "goal": goal_check(projection, args.overhead_min, device_name, on_gpu),
              "assumptions": assumptions(runs, reused, throughput, source, args.overhead_min, batch_note)}
    print(markdown(report), end="")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
