"""K-fold training with the paper's recipe (section 3.3), resumable and deterministic.

``train(config, data_dir, run_dir)`` runs stratified K-fold cross-validation. For each fold it trains on the other
folds' clips with random crops every epoch, augments (mixup, random erasing) on the device, validates with the
deterministic inference policy, reduces the learning rate on a validation-accuracy plateau, stops early, keeps the
best weights, and finally predicts the fold's held-out clips (out-of-fold) and the whole test set.

Every file is written atomically, and the resume state is saved after each epoch: kill the process at any moment,
run the same command again, and it continues from the last completed epoch of the unfinished fold, skipping
finished folds. Restored RNG states make a resumed run identical to an uninterrupted one. That holds on the device
type and in the precision the fold started with, which its resume state records: continuing elsewhere is refused,
with what to do instead (:func:`restore_training_state`).

Suspected wrong labels (``config.label_noise``, a flag file of :func:`read_flag_file`'s format) are dropped from the
training folds or down-weighted in the loss; the fold split, validation and out-of-fold predictions stay those of
the whole training set, so a run with and without flags can be compared clip by clip.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from audiotag.features.augment import Augmenter
from audiotag.training.bank import ClipBank, bank_dtype
from audiotag.training.checkpoint import save_checkpoint
from audiotag.training.config import TrainConfig
from audiotag.data.datasets import TaggingDataset, load_dataset
from audiotag.training.devices import (PRECISION_ENV, autocast, grad_scaler, make_deterministic, precision_name,
                                       restore_rng_states, resolve_device, resolve_precision, rng_states,
                                       seed_everything)
from audiotag.fileio import atomic_path, write_json, write_text
from audiotag.training.folds import make_folds, subsample_stratified
from audiotag.training.metrics import accuracy, map3
from audiotag.models import build_model
from audiotag.features.spectral import frames_for
from audiotag.training.pipeline import InputPipeline
from audiotag.training.prediction_sets import Predictions
from audiotag.training.validation import predict_bank
from audiotag.training.runs import RunDir, RunError
from audiotag.training import status
from audiotag.training.schedule import PlateauSchedule, batch_lr


class TrainingError(ValueError):
    """A training request that cannot work (bad settings for this dataset or model)."""


# --------------------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------------------
def train(config: TrainConfig, data_dir: str | os.PathLike, run_dir: str | os.PathLike, *,
          dataset: TaggingDataset | None = None, predict_test: bool = True, only_folds=None,
          summary: bool = True) -> RunDir:
    """Cross-validate ``config`` on the dataset at ``data_dir``, writing everything under ``run_dir``.

    Every fold writes its out-of-fold predictions, and, with ``predict_test`` (and a test set), its test
    predictions (a study that only compares validation scores skips them). Re-running with the same config
    resumes; a different config in an existing run directory is refused.

    For fold jobs (:mod:`audiotag.training.jobs`): ``only_folds`` trains just these of the run's folds (``[]``: none,
    only the run directory, its config and split, are prepared) without changing the run's config, as
    ``config.folds`` would; such a call removes only its own folds' temporary files, since other jobs write theirs
    beside it. ``summary=False`` leaves the run-level files (``summary.json``, ``oof.npz``) to the coordinating
    process.
    """
    run = RunDir(run_dir)
    dataset = dataset or load_dataset(data_dir)
    classes = tuple(dataset.classes)
    flags = read_flag_file(config.label_noise_file) if config.label_noise != "none" else None
    if flags is not None:
        _check_flags_known(flags, dataset.train, config.label_noise_file)
    train_df = dataset.train
    if config.verified_only:
        train_df = train_df[train_df["manually_verified"].astype(bool)]
    if config.max_train_clips:
        train_df = subsample_stratified(train_df, config.max_train_clips, config.n_folds, config.seed)
    train_df = train_df.reset_index(drop=True)
    drop, clip_weight = label_noise_arrays(config, train_df, flags)

    own = None if only_folds is None else [int(k) for k in only_folds]
    _prepare_run_dir(run, config, classes, data_dir, flags, own_folds=own)
    split = _load_or_make_split(run, train_df, config)
    folds = list(config.folds) if config.folds is not None else list(range(config.n_folds))
    bad = [k for k in folds if not 0 <= k < config.n_folds]
    if bad:
        raise TrainingError(f"folds {bad} out of range for {config.n_folds}-fold CV")
    foreign = sorted(set(own or []) - set(folds))
    if foreign:
        raise TrainingError(f"{run.path}: folds {foreign} are not among the run's folds {folds}")

    todo = [k for k in (folds if own is None else own) if not run.result_path(k).exists()]
    if todo:
        engine = _Engine(config, classes)
        engine.check_input_size()
        train_bank = engine.load_bank(train_df["path"].tolist(), "training clips")
        test_df = dataset.test if predict_test and dataset.test is not None and len(dataset.test) else None
        test_bank = engine.load_bank(test_df["path"].tolist(), "test clips") if test_df is not None else None
        targets = torch.tensor(train_df["label_index"].to_numpy(), dtype=torch.long)
        for k in todo:
            engine.train_fold(run, k, split["fold"].to_numpy(), train_df, targets, train_bank, test_df, test_bank,
                              drop=drop, clip_weight=clip_weight)
    if summary:
        n_flagged = None if flags is None else int(train_df["fname"].isin(set(flags["fname"])).sum())
        _write_summary(run, config, train_df, split, folds, n_flagged)
    return run


# --------------------------------------------------------------------------------------------------------------
# Run directory bookkeeping
# --------------------------------------------------------------------------------------------------------------
#: Settings added after runs were first saved: an old run's config.json lacks them and trained as these values say.
_LATER_DEFAULTS = {"label_noise": "none", "label_noise_file": None, "label_noise_weight": 0.2}


def _prepare_run_dir(run: RunDir, config: TrainConfig, classes, data_dir, flags: pd.DataFrame | None = None,
                     own_folds: list[int] | None = None) -> None:
    record = {**config.to_dict(), "classes": list(classes), "data_dir": str(Path(data_dir).resolve())}
    if flags is not None:   # what the flag file said, so that a run never resumes with other flags under the same name
        record["label_noise_flags"] = flags_digest(flags, config.label_noise)
    record = json.loads(json.dumps(record))   # as it reads back from disk
    # temporary files of a write that was killed half-way (the real file is intact); a fold job removes only its
    # own folds' (``own_folds``): the other jobs of the run are writing theirs at the same time
    stale = (run.path.glob("**/.*.part") if own_folds is None
             else [p for k in own_folds for p in run.fold_dir(k).glob(".*.part")])
    for path in stale if run.path.exists() else []:
        path.unlink(missing_ok=True)
    if run.exists():
        old = {**_LATER_DEFAULTS, **run.config()}
        # the flag file's path may change (a moved checkout) as long as its flags do not (label_noise_flags)
        ignored = {"quiet", "device", "folds", "data_dir", "label_noise_file"}
        diff = sorted(k for k in set(old) | set(record) if k not in ignored and old.get(k) != record.get(k))
        if diff:
            raise RunError(f"{run.path} holds a run with a different configuration (differs in: {', '.join(diff)}); "
                           f"choose a new --run-dir or delete the old one")
        return
    run.path.mkdir(parents=True, exist_ok=True)
    write_json(run.config_path, record)


def _load_or_make_split(run: RunDir, train_df: pd.DataFrame, config: TrainConfig) -> pd.DataFrame:
    if run.split_path.exists():
        split = run.split()
        if split["fname"].tolist() != train_df["fname"].tolist():
            raise RunError(f"{run.split_path}: the saved fold split does not match this dataset's training clips; "
                           f"the data changed since the run started - use a new run directory")
        return split
    split = make_folds(train_df, config.n_folds, config.seed)
    write_text(run.split_path, split.to_csv(index=False))
    return split


def _write_summary(run: RunDir, config: TrainConfig, train_df, split, folds, n_flagged: int | None = None) -> None:
    done = run.completed_folds()
    results = run.fold_results()
    summary = {"run": run.name, "model": config.model, "feature": config.features.kind,
               "n_folds": config.n_folds, "completed_folds": done,
               "folds": results.to_dict(orient="records")}
    if n_flagged is not None:
        summary["label_noise"] = {"mode": config.label_noise, "flagged_training_clips": n_flagged}
    if set(done) >= set(range(config.n_folds)):
        oofs = [run.fold_oof(k) for k in range(config.n_folds)]
        oof = Predictions(np.concatenate([p.fnames for p in oofs]), np.concatenate([p.probs for p in oofs]),
                          oofs[0].classes, run.name).align(train_df["fname"].tolist())
        oof.save(run.oof_path)
        y = train_df["label_index"].to_numpy()
        summary.update(oof_accuracy=accuracy(oof.probs, y), oof_map3=map3(oof.probs, y))
    if len(results):
        summary.update(mean_val_acc=float(results["val_acc"].mean()), mean_val_map3=float(results["val_map3"].mean()))
    write_json(run.summary_path, summary)


# --------------------------------------------------------------------------------------------------------------
# The engine: device, input pipeline, model and one fold's training loop
# --------------------------------------------------------------------------------------------------------------
class _Engine:
    def __init__(self, config: TrainConfig, classes):
        self.cfg = config
        self.classes = classes
        self.device = resolve_device(config.device)
        make_deterministic(self.device)
        self.amp_dtype = resolve_precision(config.precision, self.device)
        #: The precision actually used ("fp32", "bf16", "fp16"), recorded in resume states and checkpoints.
        self.precision = precision_name(self.amp_dtype)
        self.pipeline = InputPipeline(config.features, self.device)
        self.channels_last = config.channels_last and config.features.kind != "waveform"
        self.crop = self.pipeline.crop_length(config.crop_seconds)
        rate = config.features.sample_rate
        #: Clips are cut to their first ``max_clip_seconds`` (None: whole clips), in samples at the model's rate.
        self.max_len = int(config.max_clip_seconds * rate) if config.max_clip_seconds else None
        #: Per-clip loss weights on the device (label_noise="weight") for the fold being trained, else None.
        self._clip_weight: torch.Tensor | None = None

    # --- data ----------------------------------------------------------------------------------------------------
    def load_bank(self, paths: list[str], what: str) -> ClipBank:
        """Read every clip once, compute its full-clip representation on the device, and bank it.

        The bank's buffer is sized from the files' headers before any clip is read, and each clip goes straight
        into it, so building it costs the bank plus a clip or two (``benchmarks/bank_memory.py``)."""
        from audiotag.data.audio import load_audio

        capacity = self.bank_capacity(paths)
        bar = _progress(total=len(paths), desc=f"loading {what}", unit="clip", quiet=self.cfg.quiet)

        def load(path):
            return load_audio(path, self.cfg.features.sample_rate)[:self.max_len]

        def items():
            with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
                for wave in _ordered_map(pool, load, paths, ahead=8):
                    yield self.pipeline.clip_item(wave)
                    bar.update(1)

        bank = ClipBank.from_stream(items(), capacity, self.device, dtype=bank_dtype(self.device),
                                    short_clip=self.cfg.inference.short_clip)
        bar.close()
        return bank

    def bank_capacity(self, paths: list[str]) -> int:
        """An upper bound of the bank's length (samples or frames) from the files' headers alone."""
        from audiotag.data.audio import audio_info

        rate = self.cfg.features.sample_rate
        total = 0
        for path in paths:
            info = audio_info(path)
            n = math.ceil(info.frames * rate / info.samplerate) + 2     # resampling rounds either way
            n = min(n, self.max_len) if self.max_len else n
            total += n if self.pipeline.is_waveform else frames_for(self.cfg.features, n)
        return total

    def new_model(self) -> torch.nn.Module:
        model = build_model(self.cfg.model, n_classes=len(self.classes), **self.cfg.model_kwargs).to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        return model

    def fold_generators(self, k: int) -> tuple[torch.Generator, torch.Generator]:
        """Fold ``k``'s two seeded random streams: crops and augmentation, and the order of each epoch's clips.

        Both live on the CPU whatever the training device. A CPU generator's state loads into a CPU generator on any
        machine (a CUDA or MPS generator's state is another format, and their generators cannot take a CPU state);
        the augmentation computes its boxes and mixing weights on the CPU in float64, which MPS lacks; and a seed
        gives the same crops and augmentation on every device. The draws are a few numbers per batch, moved to the
        device with the batch."""
        seed = self.cfg.seed * 1000 + k
        return torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 1)

    def check_input_size(self) -> None:
        """Fail before any work if the crop does not fit the model (too short, too long, wrong feature)."""
        model = build_model(self.cfg.model, n_classes=len(self.classes), **self.cfg.model_kwargs).eval()
        shape = self.pipeline.input_shape(self.crop)
        try:
            with torch.no_grad():
                model(torch.zeros((2, *shape)))
        except Exception as exc:
            raise TrainingError(f"a {self.cfg.crop_seconds} s crop gives input shape {shape}, which model "
                                f"{self.cfg.model!r} does not accept: {exc}") from None

    # --- one fold ------------------------------------------------------------------------------------------------
    def train_fold(self, run: RunDir, k: int, fold_of: np.ndarray, train_df: pd.DataFrame, targets: torch.Tensor,
                   bank: ClipBank, test_df, test_bank, drop: np.ndarray | None = None,
                   clip_weight: np.ndarray | None = None) -> None:
        """Train fold ``k``. ``drop``: clips (a mask over ``train_df``) left out of the training folds but still
        validated; ``clip_weight``: each clip's loss weight (1 = normal)."""
        cfg = self.cfg
        train_idx = training_indices(fold_of, k, drop)
        val_idx = np.flatnonzero(fold_of == k)
        self._clip_weight = (None if clip_weight is None else
                             torch.as_tensor(np.asarray(clip_weight, dtype=np.float32), device=self.device))
        seed_everything(cfg.seed * 1000 + k)
        model = self.new_model()
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        schedule = PlateauSchedule(lr=cfg.lr, factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr,
                                   stop_patience=cfg.early_stop_patience, reduce_lr=cfg.lr_schedule == "plateau")
        n_batches = self.n_batches(len(train_idx))
        if cfg.lr_schedule == "plateau":
            def lr_at(step):
                return schedule.lr
        else:
            def lr_at(step):
                return batch_lr(cfg.lr_schedule, step, cfg.max_epochs * n_batches, cfg.lr, cfg.warmup_fraction,
                                cfg.lr_div, cfg.lr_final_div)
        val_inference = (cfg.inference if cfg.val_max_crops is None
                         else dataclasses.replace(cfg.inference, max_crops=cfg.val_max_crops))
        gen, order_gen = self.fold_generators(k)
        scaler = grad_scaler(self.device, self.amp_dtype)
        augment = Augmenter(cfg.augment)
        train_model = torch.compile(model) if cfg.compile else model

        history: list[dict] = []
        if run.state_path(k).exists():
            history = restore_training_state(run.state_path(k), model, opt, schedule, (gen, order_gen), self.device,
                                             scaler=scaler, precision=self.precision,
                                             where=f"run {run.name!r} fold {k}")

        val_targets = train_df["label_index"].to_numpy()[val_idx]
        self._where = f"{run.name} fold {k + 1}/{cfg.n_folds}"
        epochs = _progress(total=cfg.max_epochs, initial=schedule.epoch, desc=f"{run.name} fold {k}", unit="epoch",
                           quiet=cfg.quiet)
        final = None     # (model, out-of-fold predictions) when the last epoch is the best one
        while schedule.epoch < cfg.max_epochs and not schedule.stopped:
            t0 = time.perf_counter()
            lr = lr_at(schedule.epoch * n_batches)
            train_loss, train_acc = self._train_epoch(train_model, opt, augment, bank, train_idx, targets, gen,
                                                      order_gen, schedule.epoch, lr_at, scaler)
            val_loss = val_acc = val_map = math.nan
            last = schedule.epoch + 1 == cfg.max_epochs
            if schedule.epoch + 1 < min(cfg.val_from_epoch, cfg.max_epochs):     # train only, validate later
                schedule.skip()
            else:
                # The last epoch is validated with every window, as the fold's out-of-fold predictions will be:
                # if it is the best epoch, these predictions are those, and the fold needs no second pass.
                probs = predict_bank(model, bank, self.pipeline, cfg.inference if last else val_inference, val_idx,
                                     batch_size=cfg.eval_batch_size, amp_dtype=self.amp_dtype,
                                     channels_last=self.channels_last)
                val_loss = float(-np.log(np.clip(probs[np.arange(len(val_idx)), val_targets], 1e-12, 1)).mean())
                val_acc, val_map = accuracy(probs, val_targets), map3(probs, val_targets)
                if schedule.step(val_acc).improved:
                    self._save_best(run, k, model, schedule.epoch, val_acc, val_map)
                    final = (model, probs) if last else None
            history.append({"epoch": schedule.epoch, "train_loss": train_loss, "train_acc": train_acc,
                            "val_loss": val_loss, "val_acc": val_acc, "val_map3": val_map, "lr": lr,
                            "seconds": time.perf_counter() - t0})
            write_text(run.history_path(k), pd.DataFrame(history).to_csv(index=False))
            save_training_state(run.state_path(k), model, opt, schedule, (gen, order_gen), history, scaler=scaler,
                                device=self.device, precision=self.precision)
            epochs.set_postfix(loss=f"{train_loss:.3f}", val_acc=f"{val_acc:.3f}", best=f"{schedule.best:.3f}")
            epochs.update(1)
            status.report(f"{self._where}: epoch {schedule.epoch}/{cfg.max_epochs} done, loss {train_loss:.3f}, "
                          f"val MAP@3 {val_map:.3f} (best acc {schedule.best:.3f})", force=True)
        epochs.close()
        self._finish_fold(run, k, train_df, val_idx, bank, test_df, test_bank, schedule, history, final,
                          n_train=len(train_idx))

    def n_batches(self, n_train: int) -> int:
        """Batches per epoch: full batches only (the last partial one is dropped), at least one."""
        return max(1, n_train // self.cfg.batch_size)

    def _train_epoch(self, model, opt, augment, bank, train_idx, targets, gen, order_gen, epoch, lr_at, scaler):
        cfg = self.cfg
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=order_gen).numpy()]
        n_batches = self.n_batches(len(order))
        bar = _progress(total=n_batches, desc=f"epoch {epoch + 1}", unit="batch", leave=False, quiet=cfg.quiet)
        total_loss, total_hits, total_n = 0.0, 0, 0
        for b in range(n_batches):
            idx = order[b * cfg.batch_size:(b + 1) * cfg.batch_size]
            if len(idx) < 2:     # BatchNorm cannot train on a single example
                continue
            for group in opt.param_groups:
                group["lr"] = lr_at(epoch * n_batches + b)
            clips = torch.as_tensor(idx, device=self.device)
            x = self.pipeline.model_input(bank.random_crops(clips, self.crop, gen))
            y = F.one_hot(targets[idx].to(self.device), len(self.classes)).float()
            weight = self._clip_weight[clips] if self._clip_weight is not None else None
            x, y, weight = augment_with_weights(augment, x, y, weight, gen)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            loss, logits = training_step(model, opt, scaler, x, y, weight, self.device, self.amp_dtype)
            total_loss += loss.item() * len(idx)
            total_hits += int((logits.argmax(1) == y.argmax(1)).sum())
            total_n += len(idx)
            bar.set_postfix(loss=f"{total_loss / total_n:.3f}", acc=f"{total_hits / total_n:.3f}")
            bar.update(1)
            status.report(f"{self._where} epoch {epoch + 1}/{cfg.max_epochs}: batch {b + 1}/{n_batches}, "
                          f"loss {total_loss / total_n:.3f}")
        bar.close()
        if not math.isfinite(total_loss):
            raise TrainingError(f"training loss became {total_loss} in epoch {epoch + 1}; lower the learning rate")
        return total_loss / max(total_n, 1), total_hits / max(total_n, 1)

    # --- saving --------------------------------------------------------------------------------------------------
    def _save_best(self, run, k, model, epoch, val_acc, val_map):
        save_checkpoint(run.checkpoint_path(k), model, model_name=self.cfg.model, model_kwargs=self.cfg.model_kwargs,
                        classes=self.classes, features=self.cfg.features, inference=self.cfg.inference,
                        info={"run": run.name, "fold": k, "epoch": epoch, "val_acc": val_acc, "val_map3": val_map,
                              "crop_seconds": self.cfg.crop_seconds, "precision": self.precision,
                              "device": self.device.type})

    def _finish_fold(self, run, k, train_df, val_idx, bank, test_df, test_bank, schedule, history, final=None,
                     n_train: int | None = None):
        """Out-of-fold and test predictions of the fold's best checkpoint, and its result file. ``final``:
        (model, out-of-fold predictions) of the last epoch when it is the best one (its weights are the
        checkpoint's); otherwise the checkpoint is loaded and the validation clips scored again."""
        from audiotag.training.checkpoint import load_checkpoint

        kw = dict(batch_size=self.cfg.eval_batch_size, amp_dtype=self.amp_dtype, channels_last=self.channels_last)
        if final is not None:
            model, oof = final
        else:
            model = load_checkpoint(run.checkpoint_path(k)).build_model(self.device)
            if self.channels_last:
                model = model.to(memory_format=torch.channels_last)
            oof = predict_bank(model, bank, self.pipeline, self.cfg.inference, val_idx, **kw)
        Predictions(train_df["fname"].to_numpy()[val_idx], oof, self.classes, f"{run.name}/fold_{k}").save(
            run.fold_oof_path(k))
        if test_bank is not None:
            test = predict_bank(model, test_bank, self.pipeline, self.cfg.inference, **kw)
            Predictions(test_df["fname"].to_numpy(), test, self.classes, f"{run.name}/fold_{k}").save(
                run.fold_test_path(k))
        y = train_df["label_index"].to_numpy()[val_idx]
        seconds = float(sum(h["seconds"] for h in history))
        write_json(run.result_path(k), {"best_epoch": schedule.best_epoch, "val_acc": accuracy(oof, y),
                                        "val_map3": map3(oof, y), "epochs_run": schedule.epoch,
                                        "n_train": int(len(train_df) - len(val_idx) if n_train is None else n_train),
                                        "n_val": int(len(val_idx)),
                                        "seconds": seconds})
        if run.state_path(k).exists():
            run.state_path(k).unlink()   # the fold is complete; its resume state is no longer needed


# --------------------------------------------------------------------------------------------------------------
# The resume file of an unfinished fold
# --------------------------------------------------------------------------------------------------------------
def save_training_state(path, model, optimizer, schedule: PlateauSchedule, generators, history: list[dict], *,
                        scaler: torch.amp.GradScaler | None = None, device: torch.device | str | None = None,
                        precision: str | None = None) -> None:
    """Everything an interrupted fold needs to continue exactly: weights, optimizer moments, schedule, the fp16 loss
    scaler, every random state (the process's and ``generators``'), and the history so far, with the device type
    (default: the model's) and the precision (``fp32``, ``bf16``, ``fp16``) it trains in. Written atomically."""
    from audiotag.training.checkpoint import _unwrap

    if device is None:
        device = next(iter(model.parameters())).device
    payload = {"model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
               "schedule": schedule.state_dict(), "rng": rng_states(*generators), "history": history,
               "scaler": scaler.state_dict() if scaler is not None else {},
               "device": torch.device(device).type, "precision": precision}
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(payload, tmp)


def restore_training_state(path, model, optimizer, schedule: PlateauSchedule, generators,
                           device: torch.device | str | None = None, *, scaler: torch.amp.GradScaler | None = None,
                           precision: str | None = None, where: str | None = None) -> list[dict]:
    """Load a :func:`save_training_state` file into freshly built objects; returns the history.

    The file is read onto the CPU: weights and optimizer moments then follow the parameters to their device, and
    random states stay CPU byte tensors as ``Generator.set_state`` requires. A fold continues only on the device
    type (``device``) and in the ``precision`` it started with: elsewhere its next epochs would compute other
    numbers than an uninterrupted run's, so that is refused with a :class:`TrainingError` that names the fold
    (``where``) and says how to continue it or to train it again.
    """
    saved = torch.load(path, map_location="cpu", weights_only=False)
    _check_same_setup(saved, path, device, precision, where or str(path))
    params = list(model.parameters())
    if device is not None and params and params[0].device.type != torch.device(device).type:
        raise TrainingError(f"{path}: the model to resume lives on {params[0].device}, not on {device}")
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    schedule.load_state_dict(saved["schedule"])
    if scaler is not None and saved.get("scaler"):
        scaler.load_state_dict(saved["scaler"])
    try:
        restore_rng_states(saved["rng"], *generators)
    except (RuntimeError, ValueError) as exc:      # e.g. a GPU generator's state, saved before generators were CPU ones
        raise TrainingError(f"{where or path}: the random states in {path} do not fit this fold's generators "
                            f"({exc}); delete {path} to train this fold again from its first epoch") from None
    return list(saved["history"])


def _check_same_setup(saved: dict, path, device, precision: str | None, where: str) -> None:
    """Refuse to continue a fold on another device type or in another precision than its resume state records
    (states written before these were recorded carry neither and are not checked)."""
    was_device, was_precision = saved.get("device"), saved.get("precision")
    now = torch.device(device).type if device is not None else None
    if was_device is not None and now is not None and now != was_device:
        raise TrainingError(
            f"{where} was started on {was_device} and this process would continue it on {now}: the rest of the fold "
            f"would not be the run it started as (other kernels, other random draws). Continue it on {was_device} "
            f"(audiotag train --device {was_device}, or device={was_device!r} in the config), or delete {path} to "
            f"train this fold again from its first epoch on {now}.")
    if was_precision is not None and precision is not None and precision != was_precision:
        raise TrainingError(
            f"{where} was started in {was_precision} and this process would continue it in {precision} (precision "
            f"'auto' resolves from {PRECISION_ENV} and the machine). To continue it as it started, run again with "
            f"{PRECISION_ENV}={was_precision}; or delete {path} to train this fold again from its first epoch in "
            f"{precision}.")


def training_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
                  x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None, device: torch.device,
                  amp_dtype: torch.dtype | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimizer step on a batch: the forward pass under autocast in ``amp_dtype``, the loss in fp32, and the
    backward pass and update through ``scaler`` (:func:`~audiotag.training.devices.grad_scaler`: loss scaling for
    fp16, a pass-through otherwise). Returns ``(loss, logits)``."""
    with autocast(device, amp_dtype):
        logits = model(x)
    loss = soft_cross_entropy(logits.float(), y, weight)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss, logits


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Categorical cross-entropy against soft targets (one-hot, or mixed by mixup), averaged over the batch.

    ``weights`` (B,): each example's loss is multiplied by its weight before the batch mean (the mean stays over
    all B examples, so a down-weighted clip lowers the batch's loss rather than raising the others')."""
    per_example = -(targets * F.log_softmax(logits, dim=1)).sum(dim=1)
    if weights is not None:
        per_example = per_example * weights.to(per_example.dtype)
    return per_example.mean()


# --------------------------------------------------------------------------------------------------------------
# Suspected wrong labels: the flag file and what training does with it
# --------------------------------------------------------------------------------------------------------------
def augment_with_weights(augment, x: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None, generator):
    """``augment(x, y, generator)`` for a batch whose examples carry loss weights ``weight`` (B,): returns
    ``(x, y, weight)`` with each mixed example's weight the same convex combination as its label
    (``lam * w_i + (1 - lam) * w_perm(i)``). The weight rides along as one more target column through the very
    mixup that mixes the labels; the augmentation's random draws do not depend on the targets' width, so the
    batch is augmented exactly as without weights. ``weight=None``: plain ``augment`` (and ``None`` back)."""
    if weight is None:
        x, y = augment(x, y, generator)
        return x, y, None
    x, y = augment(x, torch.cat([y, weight.to(y.dtype).unsqueeze(1)], dim=1), generator)
    return x, y[:, :-1], y[:, -1]


def read_flag_file(path: str | os.PathLike) -> pd.DataFrame:
    """The flagged clips of a label-noise flag file: a DataFrame with ``fname`` and ``weight`` (float, NaN where
    the file gives none: ``label_noise_weight`` applies).

    The file is a CSV with a ``fname`` column and optionally ``weight`` (in [0, 1]) and any others (``suspicion``),
    as :func:`audiotag.evaluation.label_noise.flag_file` writes it. Raises :class:`TrainingError` naming the file
    when it is missing or malformed."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"label_noise_file {str(path)!r} does not exist (write one with "
                            "audiotag.evaluation.label_noise.flag_file)")
    try:
        table = pd.read_csv(path, dtype={"fname": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise TrainingError(f"label_noise_file {str(path)!r} is not a readable CSV: {exc}") from None
    if "fname" not in table.columns:
        raise TrainingError(f"label_noise_file {str(path)!r} has no 'fname' column (columns: {list(table.columns)})")
    dupes = sorted(set(table.loc[table["fname"].duplicated(), "fname"]))
    if dupes:
        raise TrainingError(f"label_noise_file {str(path)!r} lists {len(dupes)} clips twice, e.g. {dupes[:5]}")
    weight = pd.Series(np.nan, index=table.index)
    if "weight" in table.columns:
        weight = pd.to_numeric(table["weight"], errors="coerce")
        bad = (table["weight"].notna() & weight.isna()) | (weight.notna() & ~weight.between(0.0, 1.0))
        if bad.any():
            raise TrainingError(f"label_noise_file {str(path)!r}: weights must be numbers in [0, 1] (or empty); "
                                f"{int(bad.sum())} are not, e.g. {table.loc[bad, 'fname'].tolist()[:5]}")
    return pd.DataFrame({"fname": table["fname"].astype(str), "weight": weight.astype(float)})


def _check_flags_known(flags: pd.DataFrame, train: pd.DataFrame, path) -> None:
    unknown = sorted(set(flags["fname"]) - set(train["fname"]))
    if unknown:
        raise TrainingError(f"label_noise_file {str(path)!r} flags {len(unknown)} clips that are not training clips "
                            f"of this dataset, e.g. {unknown[:5]}: a flag file of another dataset?")


def label_noise_arrays(config: TrainConfig, train_df: pd.DataFrame,
                       flags: pd.DataFrame | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(drop, clip_weight)`` over the rows of ``train_df``: under ``drop`` a boolean mask of the flagged clips
    (and no weights), under ``weight`` each clip's loss weight (1 unless flagged: the file's weight, else
    ``config.label_noise_weight``) and no mask; under ``none`` neither."""
    if config.label_noise == "none" or flags is None:
        return None, None
    flagged = train_df["fname"].isin(set(flags["fname"])).to_numpy()
    if config.label_noise == "drop":
        return flagged, None
    given = flags.set_index("fname")["weight"].reindex(train_df["fname"]).to_numpy()
    weight = np.ones(len(train_df), dtype=np.float64)
    weight[flagged] = np.where(np.isnan(given[flagged]), config.label_noise_weight, given[flagged])
    return None, weight


def training_indices(fold_of: np.ndarray, k: int, drop: np.ndarray | None = None) -> np.ndarray:
    """Rows that fold ``k`` trains on: those of the other folds, less the ``drop`` mask's (which fold ``k`` still
    validates when they are its own)."""
    keep = np.asarray(fold_of) != k
    if drop is not None:
        keep &= ~np.asarray(drop, dtype=bool)
    return np.flatnonzero(keep)


def flags_digest(flags: pd.DataFrame, mode: str) -> dict:
    """What a run records of its flag file: the number of flagged clips and a SHA-256 of the flags that matter
    (names under ``drop``; names and weights under ``weight``), independent of the file's order and formatting."""
    rows = sorted(flags["fname"]) if mode == "drop" else sorted(
        f"{f}\t{'' if np.isnan(w) else repr(float(w))}" for f, w in zip(flags["fname"], flags["weight"]))
    return {"flagged": len(rows), "sha256": hashlib.sha256("\n".join(rows).encode("utf-8")).hexdigest()}


def assert_learned(run: RunDir | str, min_map3: float, folds=None) -> pd.DataFrame:
    """d2l-style check that a run learned something: every completed fold's validation MAP@3 is at least
    ``min_map3`` (chance is about 0.045 with 41 classes). Returns the fold results table."""
    run = RunDir(run) if not isinstance(run, RunDir) else run
    results = run.fold_results()
    if results.empty:
        raise AssertionError(f"{run.path}: no completed folds")
    if folds is not None:
        results = results[results["fold"].isin(list(folds))]
    weak = results[results["val_map3"] < min_map3]
    if len(weak):
        raise AssertionError(f"{run.path}: folds {weak['fold'].tolist()} reached validation MAP@3 "
                             f"{weak['val_map3'].round(3).tolist()} < {min_map3}: the network did not learn")
    return results


def _ordered_map(pool, fn, items, ahead: int):
    """``pool.map(fn, items)`` that keeps at most ``ahead`` results waiting (``Executor.map`` submits everything at
    once, which would hold every clip in memory before the bank takes the first)."""
    from collections import deque

    pending = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) > ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _progress(total, desc, unit, quiet, leave=True, initial=0):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=quiet, leave=leave, initial=initial, dynamic_ncols=True)
