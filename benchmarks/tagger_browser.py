"""How long the book's page takes to tag a 10 s clip in the browser, beside ``audiotag predict`` on the same machine.

Chapter 7's panel (``audiotag/book/static/tagger/``) runs every fold of both networks in onnxruntime-web (WebAssembly,
one thread, in a Web Worker); ``predict`` runs the same folds in PyTorch. This benchmark exports the runs (or uses
an export folder), builds a one-page site with the panel, opens it in headless Chromium (Debian's, through
Playwright), and tags a clip of ``--seconds`` seconds made of test clips laid end to end:

* ``browser_seconds``: the panel's scoring time (resampling, features, windows, networks, averages; the networks
  already loaded), median of ``--repeats``;
* ``browser_load_seconds``: pressing "Load the networks" until ready (runtime and models from a local server);
* ``predict_seconds``: ``predict_files(..., precision="fp32")`` with the checkpoints already loaded, median;
* ``predict_cli_seconds``: the whole ``audiotag predict --precision fp32`` command (start-up and loading included).

::

    python benchmarks/tagger_browser.py --runs runs/cpu/2d runs/cpu/1d --data data/synth \\
        --export audiotag/book/static/vendor/tagger --out book/measured/tagger_browser.json

Chapter 7 quotes the JSON it writes (``audiotag.book.tagger_page.measured_timing``).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))          # the Playwright helpers the browser tests use

from browser_support import CHROMIUM_ARGS, chromium_executable, serve_directory  # noqa: E402
from tagger_support import load_networks, mini_site, tag_file  # noqa: E402


def machine() -> str:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor() or "unknown CPU")
    import os

    return f"{model}, {os.cpu_count()} cores"


def long_clip(test_paths, seconds: float, dest: Path) -> Path:
    """Test clips laid end to end (44.1 kHz mono PCM 16) until ``seconds``."""
    import soundfile as sf

    from audiotag.data.audio import load_audio

    parts, total = [], 0
    for p in test_paths:
        wave = load_audio(p, 44100)
        parts.append(wave)
        total += len(wave)
        if total >= seconds * 44100:
            break
    wave = np.concatenate(parts)[: int(seconds * 44100)]
    sf.write(dest, wave, 44100, subtype="PCM_16")
    return dest


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", nargs="+", required=True, help="the runs the page uses, e.g. runs/cpu/2d runs/cpu/1d")
    ap.add_argument("--data", required=True, help="the dataset (its test clips make the long clip)")
    ap.add_argument("--export", default=None, help="an export folder (tagger.json + .onnx); default: export now")
    ap.add_argument("--profile", default="cpu", help="the profile the runs were trained with (for the record)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None, help="write the numbers here (JSON)")
    args = ap.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from audiotag.book.build import NODE_MODULES, VENDOR_FILES
    from audiotag.book.tagger_page import panel_html
    from audiotag.book.exercises.ch7_tagging import cached_loader
    from audiotag.data.datasets import load_dataset
    from audiotag.fileio import write_text
    from audiotag.inference.onnx_export import export_for_page
    from audiotag.inference.tagging import load_predictor, predict_files

    tmp = Path(tempfile.mkdtemp(prefix="tagger_bench_"))
    test = load_dataset(args.data).test
    export = Path(args.export) if args.export else export_for_page(args.runs, tmp / "export",
                                                                   list(test["path"])[:20], shrink=False).manifest.parent
    manifest = json.loads((export / "tagger.json").read_text())
    runtime = NODE_MODULES / VENDOR_FILES["onnxruntime-web"][0]
    site = mini_site(tmp / "site", export, ROOT / "audiotag" / "book" / "static", runtime,
                     panel_html(manifest["bytes"]["models"], 0))
    clip = long_clip(list(test["path"]), args.seconds, tmp / f"clip_{args.seconds:g}s.wav")

    executable = chromium_executable()
    if executable is None:
        print("chromium is not installed", file=sys.stderr)
        return 2
    with serve_directory(site) as origin, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS), headless=True)
        page = browser.new_page()
        page.goto(f"{origin}/chapters/panel.html", wait_until="load")
        start = time.perf_counter()
        load_networks(page)
        load_seconds = time.perf_counter() - start
        results = [tag_file(page, clip) for _ in range(args.repeats)]
        chromium = f"Chromium {browser.version}"
        browser.close()
    browser_seconds = statistics.median(r["seconds"] for r in results)

    loader = cached_loader(lambda path, device=None: load_predictor(path, device, "fp32"))
    predict_files([str(clip)], run=args.runs, loader=loader)           # loads every checkpoint once
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        preds, _ = predict_files([str(clip)], run=args.runs, loader=loader)
        times.append(time.perf_counter() - start)
    gap = float(np.abs(preds.probs[0] - np.asarray(results[-1]["probs"])).max())
    cli = [str(Path(sys.executable).parent / "audiotag"), "predict", str(clip), "--precision", "fp32"]
    for r in args.runs:
        cli += ["--run", str(r)]
    start = time.perf_counter()
    subprocess.run(cli, check=True, capture_output=True)
    cli_seconds = time.perf_counter() - start

    windows = {n: len(v["starts"]) for n, v in results[-1]["networks"].items()}
    out = {"profile": args.profile, "clip_seconds": args.seconds, "machine": machine(), "chromium": chromium,
           "date": date.today().isoformat(), "browser_seconds": round(browser_seconds, 3),
           "browser_load_seconds": round(load_seconds, 2), "predict_seconds": round(statistics.median(times), 3),
           "predict_cli_seconds": round(cli_seconds, 2),
           "predict_what": "float32, every fold of both networks, checkpoints already loaded",
           "windows_per_network": windows, "folds": {n["name"]: len(n["folds"]) for n in manifest["networks"]},
           "model_megabytes": round(manifest["bytes"]["models"] / 1e6, 1),
           "largest_difference_page_vs_predict": gap, "repeats": args.repeats}
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        write_text(args.out, text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
