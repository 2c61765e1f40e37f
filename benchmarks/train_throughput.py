"""Training throughput of each network, measured in one run, printed as a table of numbers and ratios.

For every network at the chosen profile's input size (``--profile paper``: the paper's 3 s waveforms at 44.1 kHz and
3 x 299 x 299 images) it measures

* training samples/s of the pure model step (forward + backward + Adam on a ready batch), fp32 and bf16 autocast,
* FLOPs per training sample (``torch.utils.flop_counter``: forward + backward) and the achieved FLOP/s,
* the end-to-end step (clip-bank crops -> features -> augmentation -> model step) and the ratio
  ``model step / end-to-end step``: 1.0 means the data pipeline costs nothing, 0.9 means 10% overhead,
* the projected wall time of the whole ``paper`` reproduction on FSDKaggle2018 (9,473 training clips; 1D x 5 folds,
  2D x 7 folds; epochs as in the paper's Table 3 for the 1D net, an assumed count for the 2D net, both printed),
* what ``precision=auto`` picks here (bf16 only where it is native, see :func:`audiotag.training.devices.resolve_precision`)
  and the end-to-end speed at that choice,
* with ``--determinism``: the cost of the deterministic kernels training uses (MKL's ``MKL_CBWR=AUTO,STRICT`` and
  oneDNN's deterministic attribute), fp32 model steps with and without them, each in a fresh process (MKL reads the
  setting once).

Usage::

    python benchmarks/train_throughput.py                       # paper sizes on the best device here
    python benchmarks/train_throughput.py --profile cpu --steps 5
    python benchmarks/train_throughput.py --device cuda --models inception2d --json out.json
    python benchmarks/train_throughput.py --profile cpu --determinism
"""
from __future__ import annotations

import argparse
import json
import time
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from audiotag.features.augment import Augmenter
from audiotag.training.bank import ClipBank
from audiotag.training.devices import (autocast, machine_info, mkl_reproducibility, precision_name,
                                       resolve_device, resolve_precision, synchronize)
from audiotag.models import build_model
from audiotag.training.pipeline import InputPipeline
from audiotag.training.profiles import make_config
from audiotag.training.trainer import soft_cross_entropy

#: FSDKaggle2018's training set and the paper's protocol, for the projection.
FSD_TRAIN_CLIPS = 9473
FSD_MEAN_CLIP_SECONDS = 6.8
#: Epochs per fold assumed in the projection: the 1D net stopped after 58-83 epochs (Table 3, 3 s: 83); the paper
#: gives no 2D count, so we assume the early stop (patience 24) ends a fold around epoch 60.
PROJECTED_EPOCHS = {"conv1d": 83, "inception2d": 60, "baseline": 30}


def flops_per_sample(model, x, amp_dtype, device) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        with autocast(device, amp_dtype):
            out = model(x)
        out.float().sum().backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() / x.shape[0]


def time_steps(step, steps: int, device) -> float:
    step()                              # warm-up (oneDNN / cuDNN picks its kernels)
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return (time.perf_counter() - t0) / steps


def make_bench(name: str, profile: str, device, batch: int | None = None, feature: str | None = None,
               **overrides) -> SimpleNamespace:
    """What one network trains with at ``profile``'s sizes (``feature``, ``overrides``: a study row's setting), on a
    clip bank of synthetic FSD-length clips: ``model_step(amp_dtype)`` (a ready batch), ``full_step(amp_dtype)``
    (crops -> features -> augmentation -> model step), and the pieces (``config``, ``model``, ``bank``,
    ``pipeline``, ``batch``, ``crop``, ``channels_last``) for other measurements (benchmarks/paper_projection.py)."""
    config = make_config(name, feature, profile, device=str(device), **overrides)
    batch = batch or config.batch_size
    pipeline = InputPipeline(config.features, device)
    crop = pipeline.crop_length(config.crop_seconds)
    channels_last = config.channels_last and config.features.kind != "waveform"
    model = build_model(name).to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    augment = Augmenter(config.augment)
    gen = torch.Generator(device=device).manual_seed(0)

    # A bank of synthetic clips of FSD-like length, as the trainer holds them.
    rng = np.random.default_rng(0)
    n_clips = max(4 * batch, 64)
    rate = config.features.sample_rate
    waves = [rng.standard_normal(int(rate * FSD_MEAN_CLIP_SECONDS)).astype(np.float32) * 0.1 for _ in range(n_clips)]
    bank = ClipBank([pipeline.clip_item(w) for w in waves], device,
                    dtype=torch.float16 if device.type == "cuda" else torch.float32)
    targets = torch.randint(0, 41, (n_clips,), device=device)
    x_ready = pipeline.model_input(bank.random_crops(torch.arange(batch, device=device), crop, gen))
    if channels_last:
        x_ready = x_ready.contiguous(memory_format=torch.channels_last)
    y_ready = F.one_hot(targets[:batch], 41).float()

    def model_step(amp_dtype, x=None, y=None):
        x = x_ready if x is None else x
        y = y_ready if y is None else y
        with autocast(device, amp_dtype):
            logits = model(x)
        loss = soft_cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def full_step(amp_dtype):
        clips = torch.randint(0, n_clips, (batch,), device=device, generator=gen)
        x = pipeline.model_input(bank.random_crops(clips, crop, gen))
        y = F.one_hot(targets[clips], 41).float()
        x, y = augment(x, y, gen)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        model_step(amp_dtype, x, y)

    model.train()
    return SimpleNamespace(config=config, model=model, bank=bank, pipeline=pipeline, batch=batch, crop=crop,
                           channels_last=channels_last, x_ready=x_ready, model_step=model_step, full_step=full_step)


def bench_model(name: str, profile: str, device, steps: int, batch: int | None) -> dict:
    bench = make_bench(name, profile, device, batch)
    config, model, batch, x_ready = bench.config, bench.model, bench.batch, bench.x_ready
    model_step, full_step = bench.model_step, bench.full_step
    result = {"model": name, "input": list(x_ready.shape[1:]), "batch": batch}
    bf16 = torch.bfloat16
    result["flops_per_sample"] = flops_per_sample(model, x_ready, bf16, device)
    for label, dtype in (("fp32", None), ("bf16", bf16)):
        result[f"samples_s_{label}"] = batch / time_steps(lambda: model_step(dtype), steps, device)
    auto = resolve_precision("auto", device)
    result["auto"] = precision_name(auto)
    model_s = batch / result[f"samples_s_{result['auto'] if result['auto'] != 'fp16' else 'bf16'}"]
    full_s = time_steps(lambda: full_step(auto), steps, device)
    result["end_to_end_samples_s_auto"] = batch / full_s
    result["model_step_share"] = model_s / full_s
    best = max(result["samples_s_fp32"], result["samples_s_bf16"])
    result["achieved_tflops"] = result["flops_per_sample"] * best / 1e12
    folds = config.n_folds
    per_epoch = FSD_TRAIN_CLIPS * (folds - 1) / folds
    result["projected_hours"] = (folds * PROJECTED_EPOCHS[name] * per_epoch / result["end_to_end_samples_s_auto"]
                                 / 3600)
    result["projection"] = f"{folds} folds x {PROJECTED_EPOCHS[name]} epochs x {per_epoch:.0f} clips"
    return result


def _determinism_child(name, profile, device, steps, batch, deterministic, queue):
    import torch as t

    t.backends.mkldnn.deterministic = deterministic
    config = make_config(name, None, profile)
    pipeline = InputPipeline(config.features, device)
    crop = pipeline.crop_length(config.crop_seconds)
    model = build_model(name).to(device)
    channels_last = config.channels_last and config.features.kind != "waveform"
    if channels_last:
        model = model.to(memory_format=t.channels_last)
    opt = t.optim.Adam(model.parameters(), 1e-3)
    batch = batch or config.batch_size
    shape = pipeline.input_shape(crop)
    x = t.randn(batch, *shape, device=device)
    if channels_last:
        x = x.contiguous(memory_format=t.channels_last)
    y = F.one_hot(t.randint(0, 41, (batch,), device=device), 41).float()

    def step():
        loss = soft_cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    queue.put({"samples_s": batch / time_steps(step, steps, device), "mkl": mkl_reproducibility()})


def determinism_cost(models, profile, device, steps, batch) -> list[dict]:
    """fp32 model-step speed with the deterministic kernels (training's setting) and without, fresh process each."""
    import multiprocessing as mp
    import os

    ctx = mp.get_context("spawn")
    rows = []
    for name in models:
        speeds = {}
        for label, cbwr, deterministic in (("deterministic", "AUTO,STRICT", True), ("free", "", False)):
            old = os.environ.get("MKL_CBWR")
            os.environ["MKL_CBWR"] = cbwr          # "": MKL's default (no reproducibility mode)
            queue = ctx.Queue()
            proc = ctx.Process(target=_determinism_child, args=(name, profile, device, steps, batch, deterministic,
                                                                queue))
            proc.start()
            speeds[label] = queue.get()
            proc.join()
            if old is None:
                os.environ.pop("MKL_CBWR")
            else:
                os.environ["MKL_CBWR"] = old
        rows.append({"model": name, "deterministic_s": speeds["deterministic"]["samples_s"],
                     "free_s": speeds["free"]["samples_s"], "mkl_modes": (speeds["deterministic"]["mkl"],
                                                                          speeds["free"]["mkl"])})
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profile", default="paper", help="input sizes of this profile (paper | cpu | smoke)")
    p.add_argument("--models", default="conv1d,inception2d,baseline")
    p.add_argument("--device", default="auto")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--batch", type=int, default=None, help="batch size (default: the profile's)")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--determinism", action="store_true", help="only measure the cost of the deterministic kernels")
    args = p.parse_args(argv)
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{device.type}, {torch.get_num_threads()} threads"
    info = machine_info(device)
    print(f"device: {name} ({info['cpu']}, native bf16: {info['native_bf16']}); torch {torch.__version__}; "
          f"profile {args.profile}; {args.steps} timed steps")
    if args.determinism:
        rows = determinism_cost(args.models.split(","), args.profile, device, args.steps, args.batch)
        print(f"{'model':12} {'deterministic /s':>16} {'free /s':>9} {'cost':>6}   MKL mode (det. / free)")
        for r in rows:
            print(f"{r['model']:12} {r['deterministic_s']:>16.1f} {r['free_s']:>9.1f} "
                  f"{1 - r['deterministic_s'] / r['free_s']:>6.1%}   {r['mkl_modes'][0]} / {r['mkl_modes'][1]}")
        return 0
    rows = [bench_model(m, args.profile, device, args.steps, args.batch) for m in args.models.split(",")]
    header = (f"{'model':12} {'input':>16} {'batch':>5} {'GFLOP/sample':>12} {'fp32 /s':>9} {'bf16 /s':>9} "
              f"{'bf16/fp32':>9} {'auto':>5} {'TFLOP/s':>8} {'e2e /s':>8} {'model/e2e':>9} {'projected h':>11}")
    print(header)
    for r in rows:
        print(f"{r['model']:12} {'x'.join(map(str, r['input'])):>16} {r['batch']:>5} "
              f"{r['flops_per_sample'] / 1e9:>12.2f} {r['samples_s_fp32']:>9.1f} {r['samples_s_bf16']:>9.1f} "
              f"{r['samples_s_bf16'] / r['samples_s_fp32']:>9.2f} {r['auto']:>5} {r['achieved_tflops']:>8.3f} "
              f"{r['end_to_end_samples_s_auto']:>8.1f} {r['model_step_share']:>9.2f} {r['projected_hours']:>11.2f}")
    total = sum(r["projected_hours"] for r in rows if r["model"] != "baseline")
    print(f"projected paper reproduction (1D + 2D, all folds): {total:.2f} h on this device")
    for r in rows:
        print(f"  {r['model']}: {r['projection']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": name, "machine": info, "profile": args.profile, "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
