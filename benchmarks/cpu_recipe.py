"""What each change of the ``cpu`` profile buys, measured in one run: fold 0 of each network, trained step by step
from the book's first recipe (the paper's plateau rule at cpu input sizes) to today's ``cpu`` profile.

Every step is one full training of fold 0 of the default synthetic corpus, validated after every epoch (so its
learning curve can be drawn), and scored on the whole test set with that one fold's predictions. The steps change
one thing at a time; the last step of each network is exactly ``make_config(model, None, "cpu")``.

It writes ``OUT/cpu_recipe.json`` (every step's settings, curve, scores and seconds, with machine, date and commit),
``OUT/cpu_recipe.md`` (the table the book includes) and ``OUT/cpu_recipe.png`` (the validation curves). The runs go
to ``RUNS/<model>/<step>`` and resume: an interrupted benchmark continues where it stopped.

Usage::

    python benchmarks/cpu_recipe.py --data data/synth                     # about 15 minutes on a 2-core CPU
    python benchmarks/cpu_recipe.py --data data/synth --models baseline   # one network
"""
from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from audiotag.features.augment import AugmentConfig
from audiotag.training.profiles import PAPER_2D_AUGMENT, make_config

#: The recipe of the book's first version (the paper's plateau rule, batches of 32, 10 epochs, early stop 4), per
#: network, as overrides of today's ``cpu`` profile.
FIRST_RECIPE = {
    "conv1d": dict(lr=1e-3, lr_schedule="plateau", lr_patience=2, early_stop_patience=4, batch_size=32, max_epochs=10),
    "inception2d": dict(lr=1e-3, lr_schedule="plateau", lr_patience=2, early_stop_patience=4, batch_size=32,
                        max_epochs=10, augment=PAPER_2D_AUGMENT),
    "baseline": dict(lr=1e-3, lr_schedule="plateau", lr_patience=2, early_stop_patience=4, max_epochs=10,
                     crop_seconds=0.6, model_kwargs={"init_std": 1e-3}, augment=AugmentConfig.off()),
}

#: The steps: (name, what changes, overrides of the cpu profile). Each step keeps the changes above it.
STEPS = {
    "conv1d": [
        ("first", "the paper's plateau rule, batch 32, 10 epochs", FIRST_RECIPE["conv1d"]),
        ("onecycle", "+ one-cycle lr (peak 2e-3), batch 16", dict(max_epochs=10, early_stop_patience=10)),
        ("cpu", "+ 16 epochs: the cpu profile", {}),
    ],
    "inception2d": [
        ("first", "the paper's plateau rule and augmentation, batch 32, 10 epochs", FIRST_RECIPE["inception2d"]),
        ("onecycle", "+ one-cycle lr (peak 1.5e-3), batch 16, lighter augmentation", dict(max_epochs=10)),
        ("cpu", "+ 20 epochs: the cpu profile", {}),
    ],
    "baseline": [
        ("first", "the released init (std 1e-3), plateau rule, 0.6 s crops, 10 epochs", FIRST_RECIPE["baseline"]),
        ("init", "+ init std 0.03, one-cycle lr (peak 3e-3)", dict(crop_seconds=0.6, max_epochs=10,
                                                                  early_stop_patience=10)),
        ("patches", "+ one 0.25 s patch per example, 30 epochs", dict(max_epochs=30, early_stop_patience=30)),
        ("cpu", "+ 20 epochs: the cpu profile", {}),
    ],
}


def step_config(model: str, overrides: dict, seed: int):
    """The cpu profile with ``overrides``, fold 0 only, validated every epoch (for the curve) on 2 windows a clip."""
    return make_config(model, None, "cpu", seed=seed, quiet=True, folds=[0], val_from_epoch=1, val_max_crops=2,
                       **overrides)


def run_step(model: str, step: str, overrides: dict, data: Path, test, runs: Path, seed: int) -> dict:
    """Train (or resume) one step and read its row; ``test``: the dataset's test table, for the test score."""
    from audiotag.evaluation.scores import score_table
    from audiotag.training.trainer import train

    run = train(step_config(model, overrides, seed), data, runs / model / step)
    history = run.history(0)
    result = run.fold_result(0)           # its seconds are the training's, also when this call only resumed it
    scores = score_table(run.fold_test(0), test)
    return {
        "model": model, "step": step, "epochs": int(result["epochs_run"]), "best_epoch": int(result["best_epoch"]),
        "val_map3": float(result["val_map3"]), "test_map3_whole": float(scores["map3_whole"].iloc[0]),
        "seconds": float(result["seconds"]),
        "curve": {"epoch": history["epoch"].tolist(), "val_map3": history["val_map3"].tolist(),
                  "train_loss": history["train_loss"].tolist()},
        "settings": {k: (v.to_dict() if hasattr(v, "to_dict") else v) for k, v in overrides.items()},
    }


def markdown_table(rows: list[dict]) -> str:
    lines = ["| network | step | epochs | best epoch | validation MAP@3 (fold 0) | test MAP@3 (fold 0, whole) "
             "| change | seconds |",
             "|:--|:--|--:|--:|--:|--:|--:|--:|"]
    previous = {}
    for r in rows:
        before = previous.get(r["model"])
        change = "" if before is None else f"{r['val_map3'] - before:+.3f}"
        lines.append(f"| {r['model']} | {r['what']} | {r['epochs']} | {r['best_epoch']} | {r['val_map3']:.3f} "
                     f"| {r['test_map3_whole']:.3f} | {change} | {r['seconds']:.0f} |")
        previous[r["model"]] = r["val_map3"]
    return "\n".join(lines) + "\n"


def curves_figure(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    from audiotag.book.plots import figure_png
    from audiotag.fileio import write_bytes

    models = list(dict.fromkeys(r["model"] for r in rows))
    fig = Figure(figsize=(4.2 * len(models), 3.4))
    axes = fig.subplots(1, len(models), squeeze=False)
    for ax, model in zip(axes[0], models):
        for r in (r for r in rows if r["model"] == model):
            ax.plot(r["curve"]["epoch"], r["curve"]["val_map3"], marker=".", label=r["what"])
        ax.set_title(model)
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5, loc="lower right")
    axes[0][0].set_ylabel("validation MAP@3 (fold 0)")
    fig.tight_layout()
    write_bytes(path, figure_png(fig, dpi=110))


def main(argv=None) -> int:
    from audiotag.fileio import write_json, write_text
    from audiotag.training.devices import machine_info, precision_name, resolve_device, resolve_precision
    from audiotag.book.results import git_commit
    from audiotag.data.datasets import load_dataset

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/synth", help="the dataset (default: the synthetic corpus of make book)")
    p.add_argument("--runs", default="runs/cpu_recipe", help="where the step runs are written (they resume)")
    p.add_argument("--out", default="book/measured", help="folder of cpu_recipe.json / .md / .png (the book includes them)")
    p.add_argument("--models", default="conv1d,inception2d,baseline")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    data, runs, out = Path(args.data), Path(args.runs), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    test = load_dataset(data).test
    rows = []
    for model in args.models.split(","):
        for step, what, overrides in STEPS[model]:
            row = run_step(model, step, overrides, data, test, runs, args.seed)
            row["what"] = what
            rows.append(row)
            print(f"{model:12} {what:66} epochs {row['epochs']:>2}  val MAP@3 {row['val_map3']:.3f}  "
                  f"test {row['test_map3_whole']:.3f}  {row['seconds']:.0f} s", flush=True)
    device = resolve_device("cpu")
    info = machine_info(device, precision_name(resolve_precision("auto", device)))
    report = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "commit": git_commit(Path(__file__).resolve().parents[1]),
              "machine": info, "data": str(data), "seed": args.seed,
              "wall_seconds": time.perf_counter() - started, "rows": rows}
    write_json(out / "cpu_recipe.json", report)
    header = (f"Fold 0 of the synthetic corpus (seed {args.seed}), validated every epoch; written "
              f"{report['date']} at commit {report['commit']} on {info['cpu']} ({info['cores']} cores, torch "
              f"{info['torch']}, {info['precision']}) by `benchmarks/cpu_recipe.py` (a step trained by an earlier "
              f"run of it is read back, with the seconds it took then).\n\n")
    write_text(out / "cpu_recipe.md", header + markdown_table(rows))
    curves_figure(rows, out / "cpu_recipe.png")
    print(f"wrote {out / 'cpu_recipe.json'}, .md and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
