"""Folds as jobs: the folds of a run trained at the same time, each in a process of its own.

The folds of a K-fold cross-validation never talk to each other: fold ``k`` trains from its own seed
(``seed * 1000 + k``), with its own batches and BatchNorm statistics, and writes only ``fold_k/``. So the way to use
several GPUs (or a cluster) without changing the paper's recipe is to train several folds at once, one per device,
each exactly as it would train alone. Data parallelism (DDP) would split every batch over the devices and change the
BatchNorm statistics the recipe trains with, so it is not offered.

:func:`train_jobs` is :func:`audiotag.training.trainer.train` with a ``jobs`` argument:

``jobs=1``
    ``train`` itself, in this process (the default; what the book always did).
``jobs=N``
    N worker processes on this machine (a :class:`~concurrent.futures.ProcessPoolExecutor` that spawns them), each
    pinned for its life to one GPU through ``CUDA_VISIBLE_DEVICES`` (worker ``i`` gets the ``i``-th visible GPU,
    round-robin when N exceeds them). On a machine without a GPU each worker gets ``cores // N`` torch threads, so
    the N workers share the cores instead of fighting over them.
``jobs="slurm"``
    A SLURM job array through `submitit <https://github.com/facebookincubator/submitit>`_, one fold per task, with
    :class:`SlurmOptions` (partition, time limit, GPUs and CPUs per task, log folder). A task that reaches its time
    limit is requeued by submitit and resumes its fold from the last completed epoch.
``jobs="submitit-local"``
    The same submitit path run as subprocesses of this machine (submitit's ``LocalExecutor``), to try a cluster
    setup without a cluster. Every fold starts at once and they all see the same GPU(s).

Why a spawn ``ProcessPoolExecutor`` and not submitit's ``LocalExecutor`` for ``jobs=N``: the ``LocalExecutor`` starts
every job at once (no cap at N), gives every job the same first GPUs rather than one each, times jobs out after
2 minutes unless told otherwise and needs a folder of pickles and logs. The pool runs at most N folds at a time,
gives each worker its own GPU, reports a fold's exception with its traceback, and works from a Jupyter kernel (the
book's notebooks). ``spawn``, not ``fork``: a forked child would inherit the parent's CUDA and OpenMP state.

The protocol, seen from the process that calls :func:`train_jobs` (the coordinator):

1. It prepares the run directory: ``config.json`` and ``split.csv`` are written (or checked against the run already
   there) before any job starts, so the jobs only read them and never race to write them.
2. Complete folds (those with a ``result.json``) are skipped; one job per missing fold runs
   ``train(config, ..., only_folds=[k], summary=False)``: the same config, fold ``k`` only, resumed from its
   ``state.pt`` if an earlier job died, every file written atomically into ``fold_k/``.
3. When every job has ended: if some failed, :class:`FoldJobsError` names each failed fold with its error (the
   folds that finished are kept; the same call again trains only what is missing). Otherwise the coordinator writes
   the run-level files, ``summary.json`` and ``oof.npz``, once.

A fold trained as a job equals the same fold trained in sequence, bit for bit, on the same kind of device with the
same number of torch threads (CPU kernels split their sums by thread; ``tests/test_jobs.py`` checks it).
"""
from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import re
import shutil
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from audiotag.training.config import TrainConfig

#: The ``jobs`` values that are not a number of local workers.
JOB_KINDS = ("slurm", "submitit-local")

#: Fault injection, for the tests of crash recovery: the jobs of these folds (comma-separated) raise before training;
#: ``k:exit`` makes fold k's process die at once, without a Python error (as when it is killed).
FAIL_ENV = "AUDIOTAG_FAIL_FOLDS"

#: The help of ``--jobs`` (``audiotag train``, ``python -m audiotag.book``).
JOBS_HELP = ("train the folds as parallel jobs: N worker processes (one GPU each; on a CPU machine cores/N torch "
             "threads each), 'slurm' (a SLURM job array through submitit) or 'submitit-local' (the same through "
             "local subprocesses); default 1: in this process")

#: Environment variables that give :class:`SlurmOptions` their defaults (``make book JOBS=slurm`` reads them).
SLURM_ENV = {"partition": "AUDIOTAG_SLURM_PARTITION", "time_min": "AUDIOTAG_SLURM_TIME",
             "gpus": "AUDIOTAG_SLURM_GPUS", "cpus": "AUDIOTAG_SLURM_CPUS", "log_dir": "AUDIOTAG_SLURM_LOG_DIR"}


class JobsError(RuntimeError):
    """Fold jobs that cannot be started as asked (no SLURM here, no submitit, a device every job would share)."""


class FoldJobsError(JobsError):
    """Some fold jobs of a run failed; the message names each fold and its error. The folds that finished are kept:
    the same call again trains only the missing ones."""

    def __init__(self, run_dir, failures: dict[int, str], n_jobs: int):
        self.run_dir = Path(run_dir)
        self.failures = dict(sorted(failures.items()))
        lines = [f"  fold {k}: {why}" for k, why in self.failures.items()]
        super().__init__(f"{self.run_dir}: {len(failures)} of {n_jobs} fold jobs failed (the other folds are complete "
                         f"and kept; run the same command again to train only the missing folds):\n"
                         + "\n".join(lines))


def parse_jobs(value) -> int | str:
    """A ``jobs`` / ``--jobs`` value: a number of local worker processes (>= 1), ``"slurm"`` or
    ``"submitit-local"``. Raises ``ValueError`` with the choices otherwise."""
    if isinstance(value, str) and value.strip() in JOB_KINDS:
        return value.strip()
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if isinstance(value, bool) or n < 1 or str(n) != str(value).strip():
        raise ValueError(f"jobs must be a number of worker processes (1, 2, ...) or one of {', '.join(JOB_KINDS)}; "
                         f"got {value!r}")
    return n


def jobs_argument(text: str) -> int | str:
    """:func:`parse_jobs` as an argparse ``type`` (its message, not argparse's generic one, on a bad value)."""
    import argparse

    try:
        return parse_jobs(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclasses.dataclass(frozen=True)
class SlurmOptions:
    """How each fold's task is requested from SLURM (``--jobs slurm``).

    ``time_min``: the time limit of a task in minutes (a task that reaches it is requeued and resumes from its last
    completed epoch, up to 3 times); ``gpus``: GPUs per task (one fold trains on one); ``cpus``: CPUs per task, also
    the task's torch threads (the clip loader uses up to 4 of them); ``log_dir``: submitit's folder (pickled jobs,
    each task's stdout/stderr), on a file system the compute nodes share; default ``RUN_DIR/../slurm_logs/RUN``.
    Unset fields come from the ``AUDIOTAG_SLURM_*`` environment variables (:data:`SLURM_ENV`), then the defaults."""

    partition: str | None = None
    time_min: int = 240
    gpus: int = 1
    cpus: int = 8
    log_dir: str | None = None

    @classmethod
    def from_env(cls, environ=None, **given) -> "SlurmOptions":
        """Options from ``given`` (``None`` values ignored), else the environment, else the defaults."""
        environ = os.environ if environ is None else environ
        values = {}
        for name, var in SLURM_ENV.items():
            value = given.get(name)
            if value is None and environ.get(var):
                value = environ[var]
            if value is not None and name in ("time_min", "gpus", "cpus"):
                try:
                    value = int(value)
                except ValueError:
                    raise JobsError(f"SLURM option {name} (or ${var}) must be a whole number, got {value!r}") from None
            if value is not None:
                values[name] = value if isinstance(value, int) else str(value)
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class FoldJob:
    """One fold of a run, as a job: ``FoldJob(...)(k)`` trains fold ``k`` of ``config`` in ``run_dir`` (resuming it)
    and returns its result (``fold_k/result.json``). Picklable, so a worker process or a SLURM task can run it.
    ``threads``: torch threads of the process (``None``: torch's default)."""

    config: TrainConfig
    data_dir: str
    run_dir: str
    predict_test: bool = True
    dataset: object = None            # a TaggingDataset already loaded by the coordinator, or None: load data_dir
    threads: int | None = None

    def __call__(self, k: int) -> dict:
        failing = os.environ.get(FAIL_ENV, "").replace(" ", "").split(",")
        if f"{k}:exit" in failing:
            os._exit(3)
        if str(k) in failing:
            raise RuntimeError(f"failure injected by {FAIL_ENV}={os.environ[FAIL_ENV]}")
        import torch

        from audiotag.training.trainer import train

        if self.threads:
            torch.set_num_threads(int(self.threads))
        run = train(self.config, self.data_dir, self.run_dir, dataset=self.dataset, predict_test=self.predict_test,
                    only_folds=[k], summary=False)
        if torch.cuda.is_available():
            torch.cuda.empty_cache()     # a pool worker may train another fold next: give its memory back
        return run.fold_result(k)

    def checkpoint(self, k: int):
        """submitit calls this when a SLURM task reaches its time limit: requeue the same fold, which resumes from
        its ``state.pt``."""
        from submitit.core.utils import DelayedSubmission

        return DelayedSubmission(self, k)


# --------------------------------------------------------------------------------------------------------------
# The coordinator
# --------------------------------------------------------------------------------------------------------------
def train_jobs(config: TrainConfig, data_dir: str | os.PathLike, run_dir: str | os.PathLike, *, jobs=1,
               dataset=None, predict_test: bool = True, slurm: SlurmOptions | None = None):
    """:func:`audiotag.training.trainer.train` with the run's folds trained as ``jobs`` (see the module's text):
    ``1`` (in this process), ``N`` local worker processes, ``"slurm"`` (a job array; ``slurm``: its options, default
    :meth:`SlurmOptions.from_env`) or ``"submitit-local"``. Returns the :class:`~audiotag.training.runs.RunDir`.
    Raises :class:`FoldJobsError` naming every fold whose job failed, after the others have finished."""
    from audiotag.data.datasets import load_dataset
    from audiotag.training.trainer import train

    jobs = parse_jobs(jobs)
    if jobs == 1:
        return train(config, data_dir, run_dir, dataset=dataset, predict_test=predict_test)
    if isinstance(jobs, int):
        _check_local_device(config.device)
    dataset = dataset if dataset is not None else load_dataset(data_dir)
    common = dict(dataset=dataset, predict_test=predict_test)
    run = train(config, data_dir, run_dir, only_folds=[], summary=False, **common)     # config.json, split.csv
    folds = list(config.folds) if config.folds is not None else list(range(config.n_folds))
    todo = [k for k in folds if not run.result_path(k).exists()]
    say = _Reporter(run.name, quiet=config.quiet)
    if len(todo) < len(folds):
        say(f"folds {sorted(set(folds) - set(todo))} already complete: skipped")
    if todo:
        # absolute paths: a SLURM task need not start in this directory
        job = FoldJob(config, str(Path(data_dir).resolve()), str(run.path.resolve()), predict_test, dataset)
        if isinstance(jobs, int):
            failures = _run_local(job, todo, jobs, say)
        else:
            failures = _run_submitit(job, todo, jobs, slurm or SlurmOptions.from_env(), say)
        if failures:
            raise FoldJobsError(run.path, failures, len(todo))
    return train(config, data_dir, run_dir, only_folds=[], summary=True, **common)     # summary.json, oof.npz


class _Reporter:
    """Prints the coordinator's progress lines (unless quiet) and keeps the book's status line up to date."""

    def __init__(self, name: str, quiet: bool):
        self.name, self.quiet = name, quiet

    def __call__(self, text: str) -> None:
        from audiotag.training import status

        status.report(f"{self.name}: {text}", force=True)
        if not self.quiet:
            print(f"{self.name}: {text}", flush=True)

    def done(self, k: int, result: dict, n_done: int, n_all: int) -> None:
        self(f"fold {k} done ({n_done}/{n_all} jobs) in {result.get('seconds', float('nan')):.0f} s: validation "
             f"accuracy {result['val_acc']:.4f}, MAP@3 {result['val_map3']:.4f}")


# --------------------------------------------------------------------------------------------------------------
# Local worker processes
# --------------------------------------------------------------------------------------------------------------
def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS tells, else all)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def worker_slots(device: str, n_workers: int) -> list[tuple[str | None, int]]:
    """``(CUDA_VISIBLE_DEVICES or None, torch threads)`` of each of ``n_workers`` local workers for a run on
    ``device``: one GPU each (round-robin over the visible ones) on a CUDA machine, none on a CPU one; every worker
    gets ``cores // n_workers`` threads (at least 1), so that together they use each core once."""
    threads = max(1, usable_cores() // n_workers)
    gpus = visible_gpus() if _uses_cuda(device) else []
    return [(gpus[i % len(gpus)] if gpus else None, threads) for i in range(n_workers)]


def visible_gpus() -> list[str]:
    """The GPUs this process may use, as ``CUDA_VISIBLE_DEVICES`` names them (indices or UUIDs)."""
    given = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [g.strip() for g in given.split(",") if g.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def _uses_cuda(device: str) -> bool:
    if str(device) == "auto":
        import torch

        return torch.cuda.is_available()
    return str(device).startswith("cuda")


def _check_local_device(device: str) -> None:
    if re.fullmatch(r"cuda:\d+", str(device)):
        raise JobsError(f"device={device!r} would put every fold job on the same GPU; with jobs=N leave the device "
                         f"'auto' or 'cuda' (each worker gets a GPU of its own) and choose the GPUs with "
                         f"CUDA_VISIBLE_DEVICES")


def _init_worker(slots) -> None:
    """A spawned worker takes its slot (GPU, threads) and keeps it for its life. ``CUDA_VISIBLE_DEVICES`` counts
    because CUDA starts lazily, at the first use of a GPU, after this."""
    import torch

    gpu, threads = slots.get()
    if gpu is not None:
        if torch.cuda.is_initialized():
            raise RuntimeError("CUDA was started before the fold job's worker could choose its GPU")
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    torch.set_num_threads(threads)


def _run_local(job: FoldJob, todo: list[int], n_jobs: int, say) -> dict[int, str]:
    """Train ``todo`` with at most ``n_jobs`` worker processes; returns ``{fold: why}`` of the failed ones."""
    n_workers = min(n_jobs, len(todo))
    slots = worker_slots(job.config.device, n_jobs)[:n_workers]   # threads from n_jobs: the same for every rerun
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    for slot in slots:
        queue.put(slot)
    where = ", ".join(f"GPU {g}" for g, _ in slots) if slots[0][0] is not None else f"{slots[0][1]} threads each"
    say(f"training folds {todo} as jobs: {n_workers} worker processes ({where})")
    failures: dict[int, str] = {}
    with ProcessPoolExecutor(n_workers, mp_context=ctx, initializer=_init_worker, initargs=(queue,)) as pool:
        futures = {pool.submit(job, k): k for k in todo}
        try:
            for n_done, future in enumerate(as_completed(futures), start=1):
                k = futures[future]
                try:
                    say.done(k, future.result(), n_done, len(todo))
                    continue
                except BrokenProcessPool:
                    failures[k] = ("a worker process died without a Python error (killed, or out of memory?), "
                                   "which stops the pool; the fold resumes from its last completed epoch when run "
                                   "again")
                except Exception as exc:   # noqa: BLE001 - every fold's error is reported, none stops the others
                    failures[k] = _describe(exc)
                say(f"fold {k} failed: {failures[k]}")
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)    # Ctrl-C: no new folds; running ones stop with the group
            raise
    return failures


def _describe(exc: BaseException) -> str:
    """``Type: message (at file:line in function)``, the place taken from the worker's traceback when there is one."""
    text = f"{type(exc).__name__}: {exc}"
    remote = str(exc.__cause__ or "")
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\S+)', remote)
    if frames:
        path, line, func = frames[-1]
        text += f" (at {Path(path).name}:{line} in {func})"
    return text


# --------------------------------------------------------------------------------------------------------------
# submitit: a SLURM job array, or the same run as local subprocesses
# --------------------------------------------------------------------------------------------------------------
def _run_submitit(job: FoldJob, todo: list[int], kind: str, options: SlurmOptions, say) -> dict[int, str]:
    """Submit one task per fold of ``todo`` as one array (``kind``: ``slurm`` or ``submitit-local``), wait for all;
    returns ``{fold: why}`` of the failed ones. Ctrl-C cancels the tasks, so that a rerun never trains a fold twice
    at the same time."""
    try:
        import submitit
    except ImportError:
        raise JobsError(f"jobs={kind!r} needs submitit: pip install submitit==1.5.4") from None
    if kind == "slurm" and shutil.which("sbatch") is None:
        raise JobsError("jobs='slurm': no SLURM here (sbatch is not on the PATH); on one machine use jobs=N")
    run_dir = Path(job.run_dir)
    folder = Path(options.log_dir) if options.log_dir else run_dir.parent / "slurm_logs" / run_dir.name
    executor = submitit.AutoExecutor(folder=folder / "%j", cluster="slurm" if kind == "slurm" else "local")
    params = dict(name=f"audiotag-{run_dir.name}", timeout_min=int(options.time_min), nodes=1, tasks_per_node=1,
                  cpus_per_task=int(options.cpus), gpus_per_node=int(options.gpus) if _uses_cuda(job.config.device)
                  or kind == "slurm" else 0)
    if kind == "slurm":
        params["slurm_array_parallelism"] = len(todo)
        if options.partition:
            params["slurm_partition"] = options.partition
        threads = int(options.cpus)
    else:   # every local task starts at once: share the cores between them
        threads = max(1, usable_cores() // len(todo))
    executor.update_parameters(**params)
    tasks = executor.map_array(dataclasses.replace(job, threads=threads), todo)
    say(f"training folds {todo} as {kind} jobs {', '.join(t.job_id for t in tasks)} (logs in {folder})")
    failures: dict[int, str] = {}
    try:
        pending = dict(zip(todo, tasks))
        n_done = 0
        while pending:
            for k, task in list(pending.items()):
                if not task.done():
                    continue
                del pending[k]
                n_done += 1
                try:
                    say.done(k, task.result(), n_done, len(todo))
                except Exception as exc:   # noqa: BLE001 - submitit's FailedJobError / UncompletedJobError
                    failures[k] = _describe_task(exc, task)
                    say(f"fold {k} failed: {failures[k]}")
            if pending:
                time.sleep(1.0 if kind != "slurm" else 15.0)
    except BaseException:
        for task in tasks:
            task.cancel(check=False)
        raise
    return failures


def _describe_task(exc: BaseException, task) -> str:
    """The last line of a failed task's traceback (its error) and where its log is."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip() and not set(ln.strip()) <= {"-"}]
    errors = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception|Interrupt)\b", ln)]
    what = errors[-1] if errors else (lines[0] if lines else type(exc).__name__)
    try:
        log = f"; log: {task.paths.stderr}"
    except Exception:   # noqa: BLE001 - a log path is a courtesy
        log = ""
    return f"{what}{log}"
