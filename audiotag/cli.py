"""The ``audiotag`` command line: thin wrappers over the package's functions."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="audiotag", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="get or make datasets").add_subparsers(dest="data_command", required=True)
    dl = data.add_parser("download", help="download a public dataset (resumable, MD5-verified), or with "
                         "--per-class a few clips per class of it (read out of the zips by HTTP Range, CRC-checked)")
    dl.add_argument("name", choices=["fsdkaggle2018"])
    dl.add_argument("--dest", required=True, help="directory to download and extract into")
    dl.add_argument("--base-url", default=None, help="API root of a mirror serving the Zenodo record's JSON "
                    "(URL/records/2552860; default: Zenodo)")
    dl.add_argument("--per-class", type=int, default=None, metavar="N",
                    help="only N training clips of every class (verified ones first, fixed seed), fetched by HTTP "
                         "Range into a Kaggle-layout folder; default: the whole dataset (~5 GB)")
    dl.add_argument("--test-per-class", type=int, default=None, metavar="M",
                    help="with --per-class: M scored test clips of every class (default: N // 2, at least 1)")
    dl.add_argument("--verified-only", action="store_true",
                    help="with --per-class: only manually verified training clips")
    dl.add_argument("--seed", type=int, default=None, help="with --per-class: the selection's seed (default 0)")
    dl.add_argument("--request-interval", type=float, default=None, metavar="S",
                    help="with --per-class: least seconds between two requests (default 1)")
    dl.add_argument("--quiet", action="store_true")
    sy = data.add_parser("synth", help="generate the offline FSD-style default dataset")
    sy.add_argument("--dest", required=True)
    sy.add_argument("--clips-per-class", type=int, default=None, help="mean training clips per class")
    sy.add_argument("--test-clips-per-class", type=int, default=None, help="mean scored test clips per class")
    sy.add_argument("--seed", type=int, default=0)
    sy.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    sy.add_argument("--overwrite", action="store_true", help="replace a corpus generated with other parameters")
    sy.add_argument("--quiet", action="store_true")

    tr = sub.add_parser("train", help="K-fold cross-validation training (resumable: run it again to continue)")
    tr.add_argument("--model", default="inception2d", help="conv1d | inception2d | baseline")
    tr.add_argument("--feature", default=None, help="waveform | logmel | mfcc | multires | spectrogram "
                    "(default: the model's own)")
    tr.add_argument("--profile", default="cpu", help="paper | cpu | smoke")
    tr.add_argument("--data", required=True, help="dataset directory (FSDKaggle2018 layout or folder + labels.csv)")
    tr.add_argument("--run-dir", required=True, help="output directory, e.g. runs/inception2d_logmel")
    tr.add_argument("--folds", default=None, help="train only these folds, e.g. 0,1 (default: all)")
    tr.add_argument("--epochs", type=int, default=None, help="maximum epochs per fold")
    tr.add_argument("--seed", type=int, default=None)
    tr.add_argument("--device", default=None, help="auto | cpu | cuda | cuda:1 | mps")
    tr.add_argument("--precision", default=None, help="auto | bf16 | fp16 | fp32")
    tr.add_argument("--compile", action="store_true", help="torch.compile the model")
    tr.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override any setting, e.g. --set crop_seconds=4 --set features.n_mels=64 "
                         "--set augment.mixup_alpha=0.2 (repeatable)")
    tr.add_argument("--quiet", action="store_true", help="no progress bars")
    tr.add_argument("--print-config", action="store_true", help="print the resolved configuration and exit")
    from audiotag.training.jobs import JOBS_HELP, jobs_argument

    tr.add_argument("--jobs", type=jobs_argument, default=1, metavar="N|slurm", help=JOBS_HELP)
    sl = tr.add_argument_group("SLURM (--jobs slurm: a job array, one fold per task; unset options come from the "
                               "AUDIOTAG_SLURM_* variables, then the defaults)")
    sl.add_argument("--slurm-partition", default=None, help="partition (default: the cluster's)")
    sl.add_argument("--slurm-time", type=int, default=None, metavar="MINUTES",
                    help="time limit of a task (default 240; a task that reaches it is requeued and resumes)")
    sl.add_argument("--slurm-gpus", type=int, default=None, metavar="N", help="GPUs per task (default 1)")
    sl.add_argument("--slurm-cpus", type=int, default=None, metavar="N",
                    help="CPUs per task, also its torch threads (default 8)")
    sl.add_argument("--slurm-log-dir", default=None, metavar="DIR", help="submitit's folder of jobs and logs, on a "
                    "shared file system (default: RUN_DIR/../slurm_logs/RUN)")

    bk = sub.add_parser("book", help="execute the notebooks with papermill and build the HTML site (make book)")
    bk.add_argument("args", nargs=argparse.REMAINDER, help="passed on: --profile P --data DIR --runs DIR [--only ...]")

    rp = sub.add_parser("report", help="print the results of a book build (build/results.json) as Markdown, with "
                        "95%% bootstrap intervals and paired differences where the build saved them")
    rp.add_argument("results", nargs="*", default=["build/results.json"],
                    help="results files of one or more builds (default build/results.json)")
    rp.add_argument("--readme", default=None, help="also rewrite this README's results section")
    rp.add_argument("--out", default=None, help="also write the report to this Markdown file (the book includes one)")

    sm = sub.add_parser("summary", help="print a model's layers, output shapes and parameter counts")
    sm.add_argument("model", help="conv1d | inception2d | baseline")
    sm.add_argument("--seconds", type=float, default=None, help="input length for conv1d / baseline")
    sm.add_argument("--size", type=int, default=299, help="image size for inception2d")
    _add_ensemble_and_predict(sub)

    ex = sub.add_parser("export", help="export trained runs to ONNX for the book's page (tag in the browser), each "
                                       "file checked against its checkpoint")
    ex.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories, e.g. runs/cpu/2d runs/cpu/1d")
    ex.add_argument("--dest", required=True, help="folder for the .onnx files and tagger.json")
    ex.add_argument("--data", required=True, help="dataset whose test clips check the files (and the page offers)")
    ex.add_argument("--check-clips", type=int, default=None, metavar="N",
                    help="check on the first N test clips only (default: all)")
    ex.add_argument("--page-clips", type=int, default=6, metavar="N", help="test clips the page offers (default 6)")
    ex.add_argument("--no-shrink", action="store_true", help="do not try float16 weights")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except KeyboardInterrupt:
        print("audiotag: interrupted (run the same command again to resume)", file=sys.stderr)
        return 130
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        print(f"audiotag: error: {exc}", file=sys.stderr)
        return 1


def _is_user_error(exc: Exception) -> bool:
    """Our own exception types carry a message meant for the user (file + problem): print it, no traceback."""
    return type(exc).__module__.startswith("audiotag.") and isinstance(exc, (ValueError, RuntimeError, OSError))


def _dispatch(args) -> int:
    if args.command == "data":
        return _data(args)
    if args.command == "train":
        return _train(args)
    if args.command == "summary":
        return _summary(args)
    if args.command == "book":
        from audiotag.book.build import main as book_main

        return int(book_main(args.args) or 0)
    if args.command == "report":
        from audiotag.book.results import load_results, report_builds, update_readme

        builds = [load_results(path) for path in args.results]
        report = report_builds(builds)
        print(report, end="")
        if args.out:
            from audiotag.fileio import write_text

            write_text(args.out, report)
        if args.readme:
            update_readme(args.readme, builds)
            print(f"updated {args.readme}")
        return 0
    if args.command == "ensemble":
        return _ensemble(args)
    if args.command == "predict":
        return _predict(args)
    if args.command == "export":
        return _export(args)
    if args.command == "suspicious":
        return _suspicious(args)
    return 2


def _train(args) -> int:
    import json

    from audiotag.training.jobs import train_jobs
    from audiotag.training.profiles import make_config

    overrides = dict(parse_override(o) for o in args.overrides)
    for key, value in (("max_epochs", args.epochs), ("seed", args.seed), ("device", args.device),
                       ("precision", args.precision)):
        if value is not None:
            overrides[key] = value
    if args.folds:
        overrides["folds"] = [int(f) for f in args.folds.split(",")]
    if args.compile:
        overrides["compile"] = True
    if args.quiet:
        overrides["quiet"] = True
    config = make_config(args.model, args.feature, args.profile, **overrides)
    if args.print_config:
        print(json.dumps(config.to_dict(), indent=2))
        return 0
    run = train_jobs(config, args.data, args.run_dir, jobs=args.jobs, slurm=slurm_options(args))
    summary = json.loads(run.summary_path.read_text())
    print(f"{run.path}: folds {summary['completed_folds']} complete; mean validation accuracy "
          f"{summary.get('mean_val_acc', float('nan')):.4f}, MAP@3 {summary.get('mean_val_map3', float('nan')):.4f}")
    return 0


def slurm_options(args):
    """The :class:`~audiotag.training.jobs.SlurmOptions` of ``audiotag train``'s ``--slurm-*`` options (unset ones
    from the environment, then the defaults); ``None`` unless ``--jobs slurm`` or ``submitit-local``."""
    from audiotag.training.jobs import SlurmOptions

    if not isinstance(args.jobs, str):
        return None
    return SlurmOptions.from_env(partition=args.slurm_partition, time_min=args.slurm_time, gpus=args.slurm_gpus,
                                 cpus=args.slurm_cpus, log_dir=args.slurm_log_dir)


def _summary(args) -> int:
    from audiotag.models import build_model, default_features, summary, summary_text
    from audiotag.training.pipeline import InputPipeline

    features = default_features(args.model)
    if features.image_size is not None:
        features = features.replace(image_size=args.size)
    seconds = args.seconds or (3.0 if features.kind == "waveform" else 3.46)
    pipeline = InputPipeline(features)
    shape = pipeline.input_shape(pipeline.crop_length(seconds))
    print(summary_text(summary(build_model(args.model), (1, *shape))))
    return 0


def parse_override(text: str) -> tuple[str, object]:
    """``key=value`` -> (key, value) with the value read as JSON when it parses (numbers, true/false, null, lists),
    else kept as a string: ``crop_seconds=4`` -> 4, ``features.kind=mfcc`` -> "mfcc". Python's ``None`` is read as
    ``null`` too (``max_train_clips=None``), so the notebooks' spelling works on the command line."""
    import json

    if "=" not in text:
        raise SystemExit(f"audiotag: --set expects KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    if value.strip() == "None":
        return key.strip(), None
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _data(args) -> int:
    if args.data_command == "download":
        subset_only = {"--test-per-class": args.test_per_class is not None, "--verified-only": args.verified_only,
                       "--seed": args.seed is not None, "--request-interval": args.request_interval is not None}
        if args.per_class is None:
            given = [flag for flag, on in subset_only.items() if on]
            if given:
                print(f"audiotag: error: {', '.join(given)} only apply with --per-class N", file=sys.stderr)
                return 2
            from audiotag.data.download import download_fsdkaggle2018

            download_fsdkaggle2018(args.dest, base_url=args.base_url, progress=not args.quiet)
            return 0
        if args.per_class < 1 or (args.test_per_class or 0) < 0:
            print("audiotag: error: --per-class must be 1 or more and --test-per-class 0 or more", file=sys.stderr)
            return 2
        from audiotag.data.subset import (DEFAULT_REQUEST_INTERVAL_S, DEFAULT_SEED,
                                          download_fsdkaggle2018_subset)

        download_fsdkaggle2018_subset(
            args.dest, args.per_class, test_per_class=args.test_per_class, verified_only=args.verified_only,
            seed=DEFAULT_SEED if args.seed is None else args.seed, base_url=args.base_url,
            request_interval_s=DEFAULT_REQUEST_INTERVAL_S if args.request_interval is None else args.request_interval,
            progress=not args.quiet)
        return 0
    if args.data_command == "synth":
        from audiotag.data.synth import generate_corpus

        kwargs = {k: v for k, v in (("clips_per_class", args.clips_per_class),
                                    ("test_clips_per_class", args.test_clips_per_class)) if v is not None}
        generate_corpus(args.dest, seed=args.seed, progress=not args.quiet, workers=args.workers,
                        overwrite=args.overwrite, **kwargs)
        return 0
    return 2



# --- ensemble and predict ---------------------------------------------------------------------------------------
def _add_ensemble_and_predict(sub) -> None:
    from audiotag.evaluation.ensembles import METHODS

    en = sub.add_parser("ensemble", help="combine trained runs (rank | mean | geometric | stack), score, submit")
    en.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run directories, e.g. runs/2d runs/1d")
    en.add_argument("--method", choices=METHODS, default="rank", help="how to combine (default: rank, the paper's)")
    en.add_argument("--best", default=None, metavar="RUN=K,...",
                    help="keep a run's K folds of highest validation accuracy, e.g. 2d=5,1d=3 (default: all folds)")
    en.add_argument("--weights", default=None, metavar="W,W,...",
                    help="one weight per member, run by run, best fold first, e.g. 3,3,2,2,2,1,1,1")
    en.add_argument("--data", default=None, help="dataset directory: scores on its test set if its labels are known")
    en.add_argument("--out", default=None, metavar="FILE.csv", help="write a Kaggle submission CSV")

    pr = sub.add_parser("predict", help="tag your own audio files or folders with trained runs")
    pr.add_argument("paths", nargs="+", metavar="PATH", help="audio files and/or folders (searched recursively)")
    pr.add_argument("--run", action="append", default=[], metavar="RUN_DIR", help="a trained run (repeatable)")
    pr.add_argument("--ensemble", default=None, metavar="SPEC",
                    help="combine folds/runs, e.g. 'geometric; best=2d=5,1d=3; weights=3,3,2,2,2,1,1,1' "
                         "(methods: mean, geometric; default: mean of each run's folds, runs equally weighted)")
    pr.add_argument("--top", type=int, default=3, help="tags per file (default 3)")
    pr.add_argument("--format", choices=("table", "csv", "json"), default="table")
    pr.add_argument("--out", default=None, metavar="FILE", help="write here instead of printing")
    pr.add_argument("--device", default=None, help="auto | cpu | cuda | mps")
    pr.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                    help="autocast precision (default auto: bf16 on CPUs with native bf16; fp32 computes exactly "
                         "what the book's page computes)")

    su = sub.add_parser("suspicious", help="rank the unverified training clips whose label the runs' out-of-fold "
                                           "predictions contradict most (clips to listen to; flags for training)")
    su.add_argument("runs", nargs="+", metavar="RUN_DIR", help="trained runs whose out-of-fold predictions to average")
    su.add_argument("--data", required=True, help="the dataset the runs were trained on")
    su.add_argument("--out", default="suspicious.csv", metavar="FILE.csv", help="the ranked clips (default "
                    "suspicious.csv)")
    su.add_argument("--top", type=int, default=None, help="keep only the N most suspicious (default: all)")
    su.add_argument("--flags", default=None, metavar="FILE.csv",
                    help="also write a flag file for training (--set label_noise=drop|weight "
                         "--set label_noise_file=FILE.csv)")
    su.add_argument("--flag-top", type=int, default=None, help="flag the N most suspicious clips")
    su.add_argument("--flag-below", type=float, default=None, metavar="P",
                    help="flag the clips whose label has out-of-fold probability below P")


def _ensemble(args) -> int:
    import pandas as pd

    from audiotag.evaluation.ensembles import EnsembleError, EnsembleSpec, build_ensemble
    from audiotag.evaluation.scores import has_test_labels, oof_score_table, score_table, write_submission
    from audiotag.training.prediction_sets import PredictionsError
    from audiotag.training.runs import RunError

    try:
        spec = EnsembleSpec.from_options(args.method, args.best, args.weights)
        result = build_ensemble(args.runs, spec)
    except (EnsembleError, RunError) as exc:
        print(f"audiotag ensemble: {exc}", file=sys.stderr)
        return 2
    except PredictionsError as exc:
        print(f"audiotag ensemble: {exc}", file=sys.stderr)
        return 1
    def show(frame: pd.DataFrame, **kw) -> str:
        return frame.to_string(float_format=lambda x: f"{x:.4f}", **kw)

    print(f"ensemble: {spec}\n\nmembers:\n{show(result.members, index=False)}\n")
    oof_table = oof_score_table(result.oof_contenders(), result.labels)
    print(f"out-of-fold (training clips, cross-validated):\n{show(oof_table)}\n")
    if args.data:
        from audiotag.data.datasets import load_dataset

        test = load_dataset(args.data).test
        if test is not None and has_test_labels(test):
            try:
                table = score_table(result.contenders(), test)
            except PredictionsError as exc:
                print(f"audiotag ensemble: {exc}", file=sys.stderr)
                return 1
            n = table.attrs["n_clips"]
            print(f"test set ({n['whole']} scored clips: {n['public']} public, {n['private']} private):\n"
                  f"{show(table)}\n")
        else:
            print(f"{args.data}: test labels unknown, no test scores\n")
    if args.out:
        path = write_submission(result.test, args.out)
        print(f"wrote {path} ({len(result.test)} clips)")
    return 0


def _predict(args) -> int:
    import json

    from audiotag.training.checkpoint import CheckpointError
    from audiotag.evaluation.ensembles import EnsembleError
    from audiotag.fileio import write_text
    from audiotag.inference.tagging import predict, tags_as_records
    from audiotag.training.prediction_sets import PredictionsError
    from audiotag.training.runs import RunError

    if args.top < 1:
        print(f"audiotag predict: --top must be at least 1, got {args.top}", file=sys.stderr)
        return 2
    try:
        table, failures = predict(args.paths, run=args.run or None, ensemble=args.ensemble, top=args.top,
                                  device=args.device, precision=args.precision)
    except (EnsembleError, RunError, PredictionsError, CheckpointError) as exc:
        print(f"audiotag predict: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        text = json.dumps(tags_as_records(table), indent=2) + "\n"
    elif args.format == "csv":
        text = table.to_csv(index=False, float_format="%.4f", lineterminator="\n")
    elif len(table):
        text = table.to_string(index=False, float_format=lambda x: f"{x:.3f}") + "\n"
    else:
        text = "no files tagged\n"
    if args.out:
        write_text(args.out, text)
    else:
        sys.stdout.write(text)
    for failure in failures:
        print(f"audiotag predict: {failure}", file=sys.stderr)
    return 1 if failures else 0


def _export(args) -> int:
    from audiotag.data.datasets import load_dataset
    from audiotag.inference.onnx_export import ExportError, export_for_page, page_clips
    from audiotag.training.runs import RunError

    try:
        dataset = load_dataset(args.data)
        test = dataset.test if dataset.test is not None else dataset.train
        paths = list(test["path"])[: args.check_clips]
        report = export_for_page(args.runs, args.dest, paths, shrink=not args.no_shrink,
                                 clips=page_clips(test, args.page_clips), progress=True)
    except (ExportError, RunError) as exc:
        print(f"audiotag export: {exc}", file=sys.stderr)
        return 2
    print(report.table().to_string(index=False, float_format=lambda x: f"{x:.3g}"))
    print(f"\nwrote {report.manifest} ({report.bytes_models / 1e6:.1f} MB of {report.weights} models, "
          f"{report.seconds:.0f} s)")
    return 0


def _suspicious(args) -> int:
    from audiotag.data.datasets import load_dataset
    from audiotag.evaluation.ensembles import EnsembleError, as_runs, mean_predictions, run_oof
    from audiotag.evaluation.label_noise import (detection_scores, flag_file, known_wrong_labels, suspicion_table,
                                                 write_suspicious_csv)
    from audiotag.training.prediction_sets import PredictionsError
    from audiotag.training.runs import RunError

    if args.flags and (args.flag_top is None) == (args.flag_below is None):
        print("audiotag suspicious: --flags needs exactly one of --flag-top N and --flag-below P", file=sys.stderr)
        return 2
    try:
        oofs = [run_oof(run) for run in as_runs(args.runs)]       # what training predicted for its held-out clips
        oof = oofs[0] if len(oofs) == 1 else mean_predictions(oofs, "mean of the runs")
        table = suspicion_table(oof, load_dataset(args.data).train)
    except (EnsembleError, RunError, PredictionsError, ValueError) as exc:
        print(f"audiotag suspicious: {exc}", file=sys.stderr)
        return 2
    path = write_suspicious_csv(table, args.out, args.top)
    shown = table if args.top is None else table.head(args.top)
    print(f"wrote {path}: {len(shown)} unverified training clips, most suspicious first (suspicion = 1 - the "
          "out-of-fold probability of the given label)")
    print(shown.head(10)[["fname", "label", "predicted", "p_label"]].to_string(index=False,
                                                                          float_format=lambda x: f"{x:.3f}"))
    from pathlib import Path

    if (Path(args.data) / "synth_info.json").is_file():      # the synthetic corpus knows its wrong labels
        wrong = known_wrong_labels(args.data)
        scores = detection_scores(table, wrong)
        print(f"\nagainst the {scores.attrs['n_wrong']} known wrong labels among them (average precision "
              f"{scores.attrs['average_precision']:.3f}, chance {scores.attrs['chance_average_precision']:.3f}):\n"
              + scores.to_string(float_format=lambda x: f"{x:.3f}"))
    if args.flags:
        threshold = None if args.flag_below is None else 1.0 - args.flag_below     # suspicion = 1 - p_label
        flags = flag_file(table, args.flags, top_k=args.flag_top, threshold=threshold)
        print(f"\nflagged {len(flags)} clips in {args.flags}: train with --set label_noise=drop (or weight) "
              f"--set label_noise_file={args.flags}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
