"""Build the executable book: run the notebooks with papermill, then the HTML site with Jupyter Book.

Executing the book is itself a test (the d2l.ai approach): the training notebooks assert that their runs learned
something, so a notebook that fails stops the build. The notebooks in ``notebooks/`` are stored without outputs;
:func:`execute_notebooks` runs each one with papermill, injecting its parameters (profile, dataset, runs
directory, seed), and writes the executed copy to ``chapters/`` (gitignored; the pages' addresses name the chapter:
``chapters/01_data.html``), which ``_toc.yml`` points at. Jupyter Book never executes anything itself
(``execute_notebooks: "off"``): :func:`build_site` only renders, with the JavaScript the site ships (MathJax, from
npm: ``package.json`` and its lock file) copied in by :func:`vendor_assets`, so no page loads anything from a CDN.

::

    python -m audiotag.book --profile cpu --data data/synth --runs runs/cpu      # what ``make book`` runs
    python -m audiotag.book --profile paper --data /path/to/FSDKaggle2018 --runs runs/paper

Notebook helpers used by every chapter live here too: :func:`resolve_dir` (paths that work whatever the
notebook's working directory) and :func:`dataset_label` (the name printed beside every table of ours).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from audiotag.training import status

#: The chapters, in reading order (files ``notebooks/<name>.ipynb``).
NOTEBOOKS = ("01_data", "02_features", "03_conv1d", "04_inception2d", "05_ensemble", "06_inside_the_networks",
             "07_tag_your_audio")
#: The repository: the notebooks, the prose and the book's configuration.
REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
#: Where executed notebooks go, relative to a book root (``_toc.yml`` lists them there; gitignored). The site's
#: addresses follow: ``chapters/01_data.html``.
EXECUTED = Path("chapters")
#: The npm packages the site ships (``package.json``, ``package-lock.json``; ``npm ci`` installs them) and what is
#: copied from each into the site's static files (``audiotag/book/static/vendor/``, gitignored): MathJax's TeX to
#: HTML component and its fonts (``_config.yml``: ``mathjax_path``), and onnxruntime-web's WebAssembly build (the
#: runtime of chapter 7's "tag it here" panel, loaded only when the reader opens it: ``static/tagger/``).
NODE_MODULES = REPO_ROOT / "node_modules"
VENDOR_DIR = Path("audiotag") / "book" / "static" / "vendor"
VENDOR_FILES = {"mathjax": ("mathjax/es5", ("tex-chtml.js", "output/chtml/fonts/woff-v2")),
                "onnxruntime-web": ("onnxruntime-web/dist", ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs",
                                                             "ort-wasm-simd-threaded.wasm"))}
#: Where chapter 7 exports the networks for the page (ONNX files, ``tagger.json``, a few test clips), relative to a
#: book root: inside the static files, so the site serves them at ``_static/vendor/tagger/``.
TAGGER_DIR = VENDOR_DIR / "tagger"
#: The notebook that exports them (it gets ``page_dir``, the absolute :data:`TAGGER_DIR` of the book it builds).
TAGGER_NOTEBOOK = "07_tag_your_audio"
#: Files and folders that make up the book's source besides the executed notebooks.
BOOK_SOURCES = ("_config.yml", "_toc.yml", "book", "audiotag/book/static")
#: Marker of the generated corpus (see :mod:`audiotag.data.synth`).
SYNTH_MARKER = "synth_info.json"
#: Seconds one notebook cell may run before papermill gives up (CI's smoke book); training cells of the other
#: profiles run as long as they need.
CELL_TIMEOUT = {"smoke": 600, "cpu": None, "paper": None}


class BookError(RuntimeError):
    """A notebook that failed to execute, or a site that failed to build; the message names which and why."""


def resolve_dir(path: str | os.PathLike) -> Path:
    """An absolute path: ``~`` expanded, relative paths taken from the current directory (a notebook's is its
    folder in Jupyter, the one papermill was given otherwise)."""
    return Path(path).expanduser().resolve()


def dataset_label(data_dir: str | os.PathLike) -> str:
    """How tables name the data our numbers come from: ``synthetic`` for the generated corpus,
    ``FSDKaggle2018 subset`` for a per-class download of it (``audiotag data download fsdkaggle2018 --per-class``),
    else ``FSDKaggle2018`` (or the folder's name for another dataset)."""
    root = Path(data_dir)
    if (root / SYNTH_MARKER).is_file():
        return "synthetic"
    from audiotag.data.datasets import detect_fsd_layout
    from audiotag.data.subset import SUBSET_RECORD_NAME

    if (root / SUBSET_RECORD_NAME).is_file():
        return "FSDKaggle2018 subset"
    return "FSDKaggle2018" if detect_fsd_layout(root) is not None else root.name


def _data_suffix(data_dir: str | os.PathLike) -> str:
    """What keeps a build's files apart by its data: nothing on the synthetic corpus, ``-<data folder>`` on any
    other data."""
    data = resolve_dir(data_dir)
    return "" if dataset_label(data) == "synthetic" else f"-{data.name}"


def default_run_root(profile: str, data_dir: str | os.PathLike) -> Path:
    """Where ``make book`` trains when no run folder is given: ``runs/PROFILE`` on the synthetic corpus,
    ``runs/PROFILE-<data folder>`` on any other data (``runs/cpu-fsd-mini``), so that runs on two datasets never
    share a folder."""
    return resolve_dir(Path("runs") / f"{profile}{_data_suffix(data_dir)}")


def default_results_path(data_dir: str | os.PathLike) -> Path:
    """Where ``make book`` writes what it measured: ``build/results.json`` on the synthetic corpus,
    ``build/results-<data folder>.json`` on other data; the results page compares the newest of each kind
    (:mod:`audiotag.book.real_data`)."""
    return REPO_ROOT / "build" / f"results{_data_suffix(data_dir)}.json"


#: The chapters that train, and so take the ``jobs`` parameter (:func:`audiotag.training.jobs.train_jobs`).
TRAINING_NOTEBOOKS = ("03_conv1d", "04_inception2d", "05_ensemble")


@dataclass
class BookSettings:
    """What ``make book`` varies: the profile, the dataset, where runs go, the seed, and per-notebook extras
    (``extra["03_conv1d"] = {"min_map3": 0.2}``). ``jobs``: how the training chapters train the folds of each run
    (1: in the kernel, one after the other; N: N worker processes, one GPU each; ``"slurm"``: a SLURM job array,
    see :mod:`audiotag.training.jobs`); it is injected only when it is not 1, the chapters' own default."""

    profile: str = "cpu"
    data_dir: str | os.PathLike = "data/synth"
    run_dir: str | os.PathLike | None = None
    seed: int = 0
    extra: dict[str, dict] = field(default_factory=dict)
    jobs: int | str = 1

    @property
    def run_root(self) -> Path:
        """The root of the training runs, absolute (default: :func:`default_run_root`)."""
        if self.run_dir is None:
            return default_run_root(self.profile, self.data_dir)
        return resolve_dir(self.run_dir)

    def parameters(self, notebook: str) -> dict:
        """The papermill parameters of one notebook: paths made absolute, so the kernel's cwd does not matter."""
        jobs = {"jobs": self.jobs} if self.jobs != 1 and notebook in TRAINING_NOTEBOOKS else {}
        return {"profile": self.profile, "data_dir": str(resolve_dir(self.data_dir)),
                "run_dir": str(self.run_root), "seed": int(self.seed), **jobs, **self.extra.get(notebook, {})}


def strip_widget_state(path: str | os.PathLike) -> None:
    """Remove saved ipywidgets state from an executed notebook.

    The static site cannot run the widgets' Python callbacks, and embedding their state would make every page
    load the widget manager from a CDN (which fails offline). Each widget is followed by a static figure of the
    same view; the widget itself renders as a short note (see :mod:`audiotag.book.widgets`).
    """
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    if nb.metadata.pop("widgets", None) is not None:
        nbformat.write(nb, str(path))


class BuildMonitor:
    """Prints, every ``interval`` seconds while a notebook executes, which cell is running (papermill saves the
    executed copy as each cell starts) and what a training inside it is doing (:mod:`audiotag.training.status`),
    so the terminal of ``make book`` is never silent for long."""

    def __init__(self, status_file: Path, interval: float = 5.0, stream=None):
        self.status_file = Path(status_file)
        self.interval = interval
        self.stream = stream or sys.stdout

    @staticmethod
    def running_cell(path: Path) -> tuple[int, int, str] | None:
        """(1-based index among code cells, code cells, first line) of the cell papermill marked running."""
        try:
            cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
        except (OSError, ValueError, KeyError):
            return None      # not written yet, or caught mid-write
        for i, cell in enumerate(cells):
            if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
                source = "".join(cell["source"]).strip().splitlines()
                return i + 1, len(cells), (source[0][:60] if source else "")
        return None

    @contextlib.contextmanager
    def watch(self, name: str, target: Path):
        stop = threading.Event()
        start = time.perf_counter()

        def loop():
            while not stop.wait(self.interval):
                cell = self.running_cell(target)
                where = f"cell {cell[0]}/{cell[1]}: {cell[2]}" if cell else "starting"
                line = status.read(self.status_file)
                print(f"  [{time.perf_counter() - start:5.0f} s] {name} {where}" + (f"\n      {line}" if line else ""),
                      file=self.stream, flush=True)

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def _shorten_paths(source: str, root: str) -> str:
    """Absolute paths in quotes made relative to ``root`` (``"data/synth"``); paths elsewhere keep their last two
    parts, so no page shows the machine's folders."""
    def shorten(match):
        value = match.group(1)
        if value == root or value.startswith(root + os.sep):
            return f'"{os.path.relpath(value, root)}"'
        parts = Path(value).parts
        return f'".../{"/".join(parts[-2:])}"' if len(parts) > 3 else f'"{value}"'

    return re.sub(r'"(/[^"]*)"', shorten, source)


def merge_parameters(parameters: str, injected: str) -> str:
    """The notebook's parameters cell with papermill's injected values written into it: each ``name = value``
    line whose name was injected takes the injected value and keeps its comment; injected names the cell did not
    have are appended. The reader sees one parameters cell with the values the chapter ran with."""
    values = {}
    for line in injected.splitlines():
        match = re.match(r"^([A-Za-z_]\w*) = (.*)$", line)
        if match:
            values[match.group(1)] = match.group(2)
    out, seen = [], set()
    for line in parameters.splitlines():
        match = re.match(r"^([A-Za-z_]\w*)\s*=\s*(.*?)(\s*#.*)?$", line)
        if match and match.group(1) in values:
            name, comment = match.group(1), match.group(3) or ""
            assignment = f"{name} = {values[name]}"
            if comment:     # the comment stays in its column when the value fits
                column = len(line) - len(comment.lstrip())
                assignment = (assignment.ljust(column) if len(assignment) < column else assignment + "  ") + \
                    comment.strip()
            out.append(assignment)
            seen.add(name)
        else:
            out.append(line)
    out += [f"{name} = {value}" for name, value in values.items() if name not in seen]
    return "\n".join(out)


def tidy_parameters(path: str | os.PathLike, root: str | os.PathLike = REPO_ROOT) -> None:
    """Leave one parameters cell in an executed notebook, as the reader should see it: papermill's
    injected-parameters cell is merged into the notebook's own (:func:`merge_parameters`) and removed, and absolute
    paths become relative to the repository (``data_dir = "data/synth"``)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    root = str(Path(root).resolve())
    injected = [c for c in nb.cells if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if injected and params:
        params[0].source = merge_parameters(params[0].source, injected[0].source)
        nb.cells = [c for c in nb.cells if c is not injected[0]]
    for cell in params[:1] or injected[:1]:
        cell.source = _shorten_paths(cell.source, root)
    nbformat.write(nb, str(path))


def vendor_assets(root: str | os.PathLike = REPO_ROOT) -> Path:
    """Copy the JavaScript the site ships from ``node_modules`` (``npm ci`` from the lock file, run here when the
    packages are missing) into ``root/audiotag/book/static/vendor/``; returns that folder. Raises
    :class:`BookError` naming what is missing (Node's ``npm``, or a package)."""
    if any(not (NODE_MODULES / src).is_dir() for src, _ in VENDOR_FILES.values()):
        npm = shutil.which("npm")
        if npm is None:
            raise BookError(f"{REPO_ROOT / 'package.json'}: the site's JavaScript comes from npm, and npm is not "
                            "installed (apt-get install nodejs npm; make setup does it)")
        proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=REPO_ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BookError(f"npm ci in {REPO_ROOT} failed (exit {proc.returncode}):\n{proc.stderr.strip()[-2000:]}")
    target = Path(root) / VENDOR_DIR
    for name, (src, parts) in VENDOR_FILES.items():
        for part in parts:
            origin, dest = NODE_MODULES / src / part, target / name / part
            if not origin.exists():
                raise BookError(f"{origin}: missing from the npm package {name!r} (run npm ci in {REPO_ROOT})")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                shutil.copytree(origin, dest, dirs_exist_ok=True)
            else:
                shutil.copy2(origin, dest)
    return target


def runtime_bytes() -> int:
    """Bytes of the onnxruntime-web files the page downloads when a reader opens the tagging panel (0 when the
    npm packages are not installed yet)."""
    src, parts = VENDOR_FILES["onnxruntime-web"]
    return sum((NODE_MODULES / src / p).stat().st_size for p in parts if (NODE_MODULES / src / p).is_file())


def execute_notebooks(settings: BookSettings, root: str | os.PathLike = REPO_ROOT,
                      names: tuple[str, ...] | list[str] | None = None, log_output: bool = False,
                      monitor_interval: float | None = 5.0, seconds: dict | None = None) -> list[Path]:
    """Execute the notebooks (all, or ``names``) into ``root/chapters/``; returns the executed files.
    ``seconds``, if given, receives each notebook's wall time under its name.

    Stops at the first failing notebook with a :class:`BookError` naming it (the executed copy, with the error in
    its cell, is left for inspection). Every ``monitor_interval`` seconds the running cell and the training status
    are printed (:class:`BuildMonitor`; ``None``: quiet).
    """
    import papermill

    names = list(names or NOTEBOOKS)
    unknown = [n for n in names if n not in NOTEBOOKS]
    if unknown:
        raise BookError(f"unknown notebook(s) {', '.join(unknown)}; the book has {', '.join(NOTEBOOKS)}")
    out_dir = Path(root) / EXECUTED
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = os.environ.get("PYTHONPATH")
    saved_status = os.environ.get(status.ENV)
    # The kernels inherit this environment: make them import this checkout's audiotag, and report training status.
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), saved) if p)
    status_file = (Path(root) / "build" / "status.txt").resolve()
    status_file.unlink(missing_ok=True)
    os.environ[status.ENV] = str(status_file)
    monitor = BuildMonitor(status_file, monitor_interval) if monitor_interval else None
    done = []
    try:
        for name in names:
            source, target = NOTEBOOK_DIR / f"{name}.ipynb", out_dir / f"{name}.ipynb"
            start = time.perf_counter()
            print(f"executing {source.relative_to(REPO_ROOT)} ({settings.profile}) ...", flush=True)
            try:
                with monitor.watch(name, target) if monitor else contextlib.nullcontext():
                    parameters = settings.parameters(name)
                    if name == TAGGER_NOTEBOOK:
                        parameters.setdefault("page_dir", str((Path(root) / TAGGER_DIR).resolve()))
                    papermill.execute_notebook(str(source), str(target), parameters=parameters,
                                               cwd=str(NOTEBOOK_DIR), kernel_name="python3", progress_bar=False,
                                               log_output=log_output,
                                               execution_timeout=CELL_TIMEOUT.get(settings.profile))
            except papermill.PapermillExecutionError as exc:
                raise BookError(f"{source}: cell {exc.exec_count} failed with {exc.ename}: {exc.evalue} "
                                f"(executed copy with the traceback: {target})") from None
            strip_widget_state(target)
            tidy_parameters(target)
            status_file.unlink(missing_ok=True)
            took = time.perf_counter() - start
            print(f"  done in {took:.0f} s -> {target}", flush=True)
            if seconds is not None:
                seconds[name] = round(took, 1)
            done.append(target)
    finally:
        for key, value in (("PYTHONPATH", saved), (status.ENV, saved_status)):
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return done


def stage_sources(root: str | os.PathLike) -> Path:
    """Copy the book's sources (configuration, table of contents, prose) into ``root``, for a build outside the
    repository (the tests build the smoke book in a temporary folder). Returns ``root``."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name in BOOK_SOURCES:
        src = REPO_ROOT / name
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, root / name, dirs_exist_ok=True)
        else:
            shutil.copy2(src, root / name)
    return root


def jupyter_book_command() -> list[str]:
    """The ``jupyter-book`` of this environment (next to the running Python), else the one on the PATH."""
    local = Path(sys.executable).parent / "jupyter-book"
    exe = str(local) if local.exists() else shutil.which("jupyter-book")
    if exe is None:
        raise BookError("jupyter-book is not installed (pip install 'jupyter-book<2'; make setup does it)")
    return [exe]


def build_site(root: str | os.PathLike = REPO_ROOT, strict: bool = True,
               results_dir: str | os.PathLike | None = None) -> Path:
    """Render the book under ``root`` to HTML with ``jupyter-book build`` (``-W``: any Sphinx warning fails).

    The site's JavaScript is copied in first (:func:`vendor_assets`), and the results page's comparison of the
    builds on synthetic and real data is written from the results files in ``results_dir`` (default
    ``root/build``; :func:`audiotag.book.real_data.write_comparison`). Returns the folder of the site
    (``root/_build/html``); raises :class:`BookError` with the build log's tail.
    """
    from audiotag.book.real_data import write_comparison

    root = Path(root)
    missing = [n for n in NOTEBOOKS if not (root / EXECUTED / f"{n}.ipynb").is_file()]
    if missing:
        raise BookError(f"{root / EXECUTED}: notebooks not executed yet: {', '.join(missing)} "
                        "(run execute_notebooks first, or make book)")
    vendor_assets(root)
    write_comparison(root, Path(results_dir) if results_dir is not None else root / "build")
    cmd = jupyter_book_command() + ["build", str(root), "--builder", "html"] + (["-W", "--keep-going"]
                                                                             if strict else [])
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr).strip().splitlines()
        raise BookError(f"jupyter-book build {root} failed (exit {proc.returncode}):\n" + "\n".join(log[-40:]))
    return root / "_build" / "html"


def main(argv: list[str] | None = None) -> int:
    from audiotag.training.jobs import JOBS_HELP, jobs_argument

    p = argparse.ArgumentParser(prog="python -m audiotag.book", description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="cpu", help="paper | cpu | smoke (default cpu)")
    p.add_argument("--data", default="data/synth", help="dataset directory (default data/synth)")
    p.add_argument("--runs", default=None, help="root of the training runs (default runs/PROFILE on the synthetic "
                   "corpus, runs/PROFILE-<data folder> on other data)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=jobs_argument, default=1, help=JOBS_HELP + " (slurm: AUDIOTAG_SLURM_* variables "
                   "give the options, see audiotag.training.jobs.SlurmOptions)")
    p.add_argument("--only", default=None, help="execute only these notebooks, e.g. 01_data,02_features")
    p.add_argument("--no-execute", action="store_true", help="only build the site from executed notebooks")
    p.add_argument("--no-build", action="store_true", help="only execute the notebooks")
    p.add_argument("--log-output", action="store_true", help="stream the notebooks' output")
    p.add_argument("--synth", action="store_true", help="first generate the synthetic corpus into --data (skipped "
                   "when it is already there); its time counts in the build's wall time")
    p.add_argument("--results", default=None, help="where to write what the build measured (default "
                   "build/results.json on the synthetic corpus, build/results-<data folder>.json on other data)")
    args = p.parse_args(argv)
    settings = BookSettings(args.profile, args.data, args.runs, args.seed, jobs=args.jobs)
    start = time.perf_counter()
    stages: dict[str, float] = {}      # seconds of each stage, for build/results.json
    try:
        if args.synth:
            from audiotag.data.synth import generate_corpus

            generate_corpus(resolve_dir(args.data))
            stages["corpus"] = round(time.perf_counter() - start, 1)
        if not args.no_execute:
            names = args.only.split(",") if args.only else None
            execute_notebooks(settings, REPO_ROOT, names, log_output=args.log_output, seconds=stages)
        results_path = resolve_dir(args.results) if args.results else default_results_path(args.data)
        measure = not args.no_execute and not args.only

        def record():
            from audiotag.book.results import write_results

            return write_results(results_path, profile=args.profile, dataset=dataset_label(resolve_dir(args.data)),
                                 run_root=settings.run_root, wall_seconds=time.perf_counter() - start,
                                 repo_root=REPO_ROOT, stages=stages, data_dir=resolve_dir(args.data))

        if measure and not args.no_build:
            record()      # first without the site's time, so the results page can compare this build's scores
        if not args.no_build:
            site_start = time.perf_counter()
            site = build_site(REPO_ROOT, results_dir=results_path.parent)
            stages["site"] = round(time.perf_counter() - site_start, 1)
            print(f"\nThe book is at {site / 'index.html'}  (built in {time.perf_counter() - start:.0f} s)\n"
                  f"Serve it with: python -m http.server -d {site} 8000   and open http://127.0.0.1:8000/")
        if measure:
            from audiotag.book.results import report_markdown

            results = record()
            shown = os.path.relpath(results_path)
            print(f"\n{report_markdown(results)}\nwritten to {shown}; "
                  f"`audiotag report {shown} --readme README.md` puts it in the README")
    except BookError as exc:
        print(f"audiotag book: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
