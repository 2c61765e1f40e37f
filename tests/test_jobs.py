"""Folds as jobs (audiotag.training.jobs): parallel folds equal sequential ones, crashes are reported by fold and a
rerun finishes only what is missing; the CLI, the book and the notebooks pass ``jobs`` through."""
from __future__ import annotations

import json
import shutil

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch

from audiotag.training import jobs as jobs_mod
from audiotag.training.jobs import (FAIL_ENV, FoldJobsError, JobsError, SlurmOptions, parse_jobs, train_jobs,
                                    worker_slots)
from audiotag.training.profiles import make_config
from audiotag.training.runs import RunDir
from audiotag.training.trainer import TrainingError, train

N_FOLDS = 3


def smoke_config(**overrides):
    return make_config("conv1d", None, "smoke", **{"quiet": True, "n_folds": N_FOLDS, "max_epochs": 2, **overrides})


@pytest.fixture(autouse=True)
def two_cores(monkeypatch):
    """Every worker gets one torch thread, whatever this machine has: CPU kernels split their sums by thread, so
    a fold is bit-identical to the sequential reference only at the same thread count (1, below)."""
    monkeypatch.setattr(jobs_mod, "usable_cores", lambda: 2)


@pytest.fixture(scope="module")
def sequential(tone_corpus, tmp_path_factory) -> RunDir:
    """The reference: the folds one after the other in this process, on one thread (as each worker below)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return train(smoke_config(), tone_corpus, tmp_path_factory.mktemp("sequential") / "run")
    finally:
        torch.set_num_threads(threads)


def assert_same_run(run: RunDir, ref: RunDir, folds=range(N_FOLDS)) -> None:
    """Fold by fold identical histories, results, out-of-fold and test predictions (times aside), and the same
    run-level summary and out-of-fold table."""
    for k in folds:
        pd.testing.assert_frame_equal(run.history(k).drop(columns="seconds"), ref.history(k).drop(columns="seconds"))
        mine, theirs = run.fold_result(k), ref.fold_result(k)
        assert {**mine, "seconds": 0} == {**theirs, "seconds": 0}, f"fold {k}"
        for got, want in ((run.fold_oof(k), ref.fold_oof(k)), (run.fold_test(k), ref.fold_test(k))):
            assert list(got.fnames) == list(want.fnames)
            np.testing.assert_array_equal(got.probs, want.probs, err_msg=f"fold {k}")
    np.testing.assert_array_equal(run.oof().probs, ref.oof().probs)
    summary, reference = (json.loads(r.summary_path.read_text()) for r in (run, ref))
    for s in (summary, reference):
        s.pop("run")
        for fold in s["folds"]:
            fold.pop("seconds")
    assert summary == reference
    assert run.split().equals(ref.split())


# ------------------------------------------------------------------------------------------------------ training
def test_two_workers_equal_the_sequential_run_fold_by_fold(sequential, tone_corpus, tmp_path):
    run = train_jobs(smoke_config(), tone_corpus, tmp_path / "run", jobs=2)
    assert_same_run(run, sequential)


def test_submitit_local_executor_equals_the_sequential_run(sequential, tone_corpus, tmp_path):
    pytest.importorskip("submitit")
    options = SlurmOptions(time_min=10, log_dir=str(tmp_path / "logs"))
    run = train_jobs(smoke_config(), tone_corpus, tmp_path / "run", jobs="submitit-local", slurm=options)
    assert_same_run(run, sequential)
    assert len(list((tmp_path / "logs").glob("*/*_log.out"))) == N_FOLDS      # one task per fold


def test_a_crashed_fold_is_reported_by_fold_and_a_rerun_trains_only_it(sequential, tone_corpus, tmp_path,
                                                                       monkeypatch, capsys):
    config = smoke_config(quiet=False)
    run = RunDir(tmp_path / "run")
    monkeypatch.setenv(FAIL_ENV, "1")
    with pytest.raises(FoldJobsError, match=r"1 of 3 fold jobs failed.*\n  fold 1: RuntimeError: failure injected") \
            as failed:
        train_jobs(config, tone_corpus, run.path, jobs=2)
    assert list(failed.value.failures) == [1]
    assert run.completed_folds() == [0, 2] and not run.summary_path.exists() and not run.oof_path.exists()
    assert run.config_path.exists() and run.split_path.exists()        # written before any job started
    kept = {k: run.result_path(k).stat().st_mtime_ns for k in (0, 2)}

    monkeypatch.delenv(FAIL_ENV)
    capsys.readouterr()
    train_jobs(config, tone_corpus, run.path, jobs=2)
    out = capsys.readouterr().out
    assert "folds [0, 2] already complete: skipped" in out and "training folds [1] as jobs" in out
    assert {k: run.result_path(k).stat().st_mtime_ns for k in (0, 2)} == kept     # untouched
    assert_same_run(run, sequential)


def test_a_worker_that_dies_is_reported_not_waited_for(tone_corpus, tmp_path, monkeypatch):
    monkeypatch.setenv(FAIL_ENV, "0:exit")         # the process ends at once, as when it is killed
    with pytest.raises(FoldJobsError, match=r"fold 0: a worker process died without a Python error"):
        train_jobs(smoke_config(folds=[0]), tone_corpus, tmp_path / "run", jobs=2)


def test_complete_folds_are_skipped_and_only_the_summary_is_written(sequential, tone_corpus, tmp_path,
                                                                   monkeypatch):
    shutil.copytree(sequential.path, tmp_path / "run")
    run = RunDir(tmp_path / "run")
    run.summary_path.unlink()
    run.oof_path.unlink()
    monkeypatch.setattr(jobs_mod, "_run_local", lambda *a: pytest.fail("a complete fold was trained again"))
    train_jobs(smoke_config(), tone_corpus, run.path, jobs=2)
    assert_same_run(run, sequential)


def test_a_fold_job_trains_only_its_fold_of_the_same_config(tone_corpus, tmp_path):
    config = smoke_config(folds=[0, 2])
    run = train(config, tone_corpus, tmp_path / "run", only_folds=[], summary=False)
    assert run.exists() and run.split_path.exists() and run.completed_folds() == []
    assert not run.summary_path.exists()
    assert run.config()["folds"] == [0, 2]           # the run's config, not the job's fold
    with pytest.raises(TrainingError, match=r"folds \[1\] are not among the run's folds \[0, 2\]"):
        train(config, tone_corpus, run.path, only_folds=[1], summary=False)


def test_a_fold_job_removes_only_its_own_temporary_files(tone_corpus, tmp_path):
    config = smoke_config(max_epochs=1)
    run = train(config, tone_corpus, tmp_path / "run", only_folds=[], summary=False)
    for k in (0, 1):
        run.fold_dir(k).mkdir()
        (run.fold_dir(k) / ".history.csv.x.part").write_text("another job is writing this")
    train(config, tone_corpus, run.path, only_folds=[0], summary=False)
    assert not (run.fold_dir(0) / ".history.csv.x.part").exists()     # its own stale file
    assert (run.fold_dir(1) / ".history.csv.x.part").exists()         # fold 1's job may be writing it


# ------------------------------------------------------------------------------------------------------ settings
def test_parse_jobs():
    assert parse_jobs(1) == 1 and parse_jobs("4") == 4 and parse_jobs(" slurm ") == "slurm"
    assert parse_jobs("submitit-local") == "submitit-local"
    for bad in (0, "0", -2, "two", "2.5", True, None, "SLURM"):
        with pytest.raises(ValueError, match="jobs must be a number of worker processes"):
            parse_jobs(bad)


def test_worker_slots_share_the_cores_or_give_one_gpu_each(monkeypatch):
    monkeypatch.setattr(jobs_mod, "usable_cores", lambda: 16)
    assert worker_slots("cpu", 4) == [(None, 4)] * 4
    assert worker_slots("cpu", 32) == [(None, 1)] * 32
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert worker_slots("cuda", 3) == [("3", 5), ("5", 5), ("3", 5)]       # round-robin over the visible GPUs
    with pytest.raises(JobsError, match="same GPU"):
        train_jobs(smoke_config(device="cuda:1"), "unused", "unused", jobs=2)


def test_slurm_options_from_flags_then_environment_then_defaults():
    env = {"AUDIOTAG_SLURM_PARTITION": "gpu", "AUDIOTAG_SLURM_TIME": "90", "AUDIOTAG_SLURM_CPUS": "16"}
    assert SlurmOptions.from_env(env, cpus=4, gpus=None) == SlurmOptions(partition="gpu", time_min=90, gpus=1, cpus=4)
    assert SlurmOptions.from_env({}) == SlurmOptions()
    with pytest.raises(JobsError, match="AUDIOTAG_SLURM_GPUS"):
        SlurmOptions.from_env({"AUDIOTAG_SLURM_GPUS": "one"})


def test_slurm_without_a_cluster_says_so(tone_corpus, tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setattr(jobs_mod.shutil, "which", lambda name: None)
    with pytest.raises(JobsError, match="no SLURM here"):
        train_jobs(smoke_config(), tone_corpus, tmp_path / "run", jobs="slurm")


def test_cli_passes_jobs_and_slurm_options(monkeypatch):
    from audiotag.cli import build_parser, slurm_options

    monkeypatch.delenv("AUDIOTAG_SLURM_PARTITION", raising=False)
    base = ["train", "--data", "d", "--run-dir", "r"]
    args = build_parser().parse_args(base + ["--jobs", "8"])
    assert args.jobs == 8 and slurm_options(args) is None
    args = build_parser().parse_args(base + ["--jobs", "slurm", "--slurm-partition", "h100", "--slurm-time", "45",
                                             "--slurm-gpus", "1", "--slurm-cpus", "12", "--slurm-log-dir", "logs"])
    assert slurm_options(args) == SlurmOptions(partition="h100", time_min=45, gpus=1, cpus=12, log_dir="logs")
    with pytest.raises(SystemExit):
        build_parser().parse_args(base + ["--jobs", "0"])


def test_book_passes_jobs_to_the_training_chapters_only(tmp_path, monkeypatch):
    from audiotag.book.build import NOTEBOOK_DIR, TRAINING_NOTEBOOKS, BookSettings

    monkeypatch.chdir(tmp_path)
    assert "jobs" not in BookSettings().parameters("03_conv1d")             # 1: the chapters' own default
    settings = BookSettings("paper", jobs=8)
    assert settings.parameters("04_inception2d")["jobs"] == 8 and "jobs" not in settings.parameters("01_data")
    for name in TRAINING_NOTEBOOKS:
        nb = nbformat.read(str(NOTEBOOK_DIR / f"{name}.ipynb"), as_version=4)
        params = [c.source for c in nb.cells if "parameters" in c.metadata.get("tags", [])][0]
        assert "\njobs = 1 " in params, name
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        calls = code.count("train_jobs(") + code.count("study_run(cfg")
        assert calls and code.count("jobs=jobs") == calls, f"{name}: a training call without jobs=jobs"
        assert "import assert_learned, train\n" not in code


# ------------------------------------------------------------------------------------------------ the projection
def test_projection_counts_what_the_book_trains_and_checks_the_goal(tmp_path, monkeypatch, capsys):
    """benchmarks/paper_projection.py from given throughput (no measuring): the runs the paper book trains, the
    study rows it reads from the main runs, and the verdict on the 30-minute goal."""
    from audiotag.book.build import REPO_ROOT

    monkeypatch.syspath_prepend(str(REPO_ROOT / "benchmarks"))
    import paper_projection as pp

    runs, reused = pp.planned_runs("paper")
    assert [(r.name, len(r.folds)) for r in runs] == [
        ("1d", 5), ("table3/crop_2s", 5), ("table3/crop_4s", 5), ("table3/crop_5s", 5), ("2d", 7),
        ("table4/mfcc", 7), ("table4/multires", 7), ("table4/spectrogram", 7), ("baseline", 1)]
    assert len(reused) == 2 and not any(r.predict_test for r in runs if r.name.startswith("table4"))
    assert [r.epochs for r in runs[:4]] == [83, 58, 59, 72]                 # the paper's Table 3

    def throughput(rate):
        return {r.setting: {"train_clips_s": rate, "eval_clips_s": 4 * rate, "load_s_per_clip": 1e-3} for r in runs}

    for rate, verdict in ((1e5, "it meets the goal"), (10.0, "it misses the goal")):
        path = tmp_path / f"{rate}.json"
        path.write_text(json.dumps({"device": "a test GPU", "measured_on_gpu": True, "throughput": throughput(rate)}))
        assert pp.main(["--throughput", str(path), "--out", str(tmp_path / "out.json")]) == 0
        out = capsys.readouterr().out
        assert verdict in out and "Assumptions:" in out and "| 8 | as the book runs (JOBS=8) |" in out
    report = json.loads((tmp_path / "out.json").read_text())
    eight = report["projection"]["totals"]["8"]
    assert eight["packed"]["typical"] <= eight["book"]["typical"] < report["projection"]["totals"]["1"]["book"]["typical"]
    assert report["goal"]["speedup_needed"] > 1 and not report["goal"]["meets"]
