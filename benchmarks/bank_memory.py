"""Peak memory of building a clip bank at FSDKaggle2018 scale, as a multiple of the finished bank.

Simulates the training set the ``paper`` profile banks: 9,473 clips of 0.3-30 s with a mean of 6.8 s, as 44.1 kHz
waveforms (the 1D net) or 128-band log-mel frames at hop 512 (the 2D net), stored as float32 on the CPU and float16
on CUDA (as :class:`audiotag.training.trainer` does). Each measurement runs in a fresh process; clips are made one at a
time (random values: their content does not matter here), as the trainer's loader yields them.

* ``stream``: :meth:`ClipBank.from_stream`, what training uses: one buffer sized from the files' headers, each
  clip converted straight into its place.
* ``list``: the former way, for comparison: every clip kept as its own tensor on the device (float32), then the
  bank concatenated from them (``ClipBank(items)``).

Peak = the highest memory in use while building (CPU: the process's resident-set high-water mark above what it held
before; CUDA: ``torch.cuda.max_memory_allocated``); final = the bank's bytes. Usage::

    python benchmarks/bank_memory.py                          # CPU, full FSDKaggle2018 size (about 12 GB of RAM)
    python benchmarks/bank_memory.py --scale 0.1 --device cuda
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import resource

import numpy as np

FSD_TRAIN_CLIPS = 9473
FSD_MEAN_SECONDS = 6.8
RATE, HOP, MELS = 44100, 512, 128


def clip_seconds(n: int, seed: int = 0) -> np.ndarray:
    """Clip lengths like FSDKaggle2018's: log-normal, 0.3-30 s, rescaled to a mean of 6.8 s."""
    rng = np.random.default_rng(seed)
    s = np.clip(rng.lognormal(1.4, 0.9, n), 0.3, 30.0)
    for _ in range(20):
        s = np.clip(s * FSD_MEAN_SECONDS / s.mean(), 0.3, 30.0)
    return s


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def _measure(kind: str, method: str, device: str, scale: float, queue) -> None:
    import torch

    from audiotag.training.bank import ClipBank

    seconds = clip_seconds(max(1, int(FSD_TRAIN_CLIPS * scale)))
    lengths = [int(s * RATE) if kind == "waveform" else 1 + int(s * RATE) // HOP for s in seconds]
    shape = (1,) if kind == "waveform" else (1, MELS)
    dev = torch.device(device)
    store = torch.float16 if dev.type == "cuda" else torch.float32
    gen = torch.Generator().manual_seed(0)

    def clips():
        for n in lengths:
            yield torch.randn(*shape, n, generator=gen).to(dev)      # float32 on the device, as the loader makes it

    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _rss_bytes()
    if method == "stream":
        capacity = sum(lengths) + 2 * len(lengths)                    # a header-based bound is a little generous
        bank = ClipBank.from_stream(clips(), capacity, dev, dtype=store)
    else:
        bank = ClipBank(list(clips()), dev, dtype=store)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    queue.put({"kind": kind, "method": method, "device": device, "clips": len(lengths),
               "hours": float(seconds.sum() / 3600), "final_gb": bank.nbytes / 1e9, "peak_gb": peak / 1e9,
               "peak_over_final": peak / bank.nbytes})


def measure(kind: str, method: str, device: str, scale: float) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_measure, args=(kind, method, device, scale, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--scale", type=float, default=1.0, help="fraction of FSDKaggle2018's 9,473 clips (stream)")
    p.add_argument("--list-scale", type=float, default=0.1, help="fraction for the former list-then-concatenate "
                   "build (it needs several times the bank's memory)")
    p.add_argument("--kinds", default="waveform,logmel")
    args = p.parse_args()
    import pandas as pd

    rows = []
    for kind in args.kinds.split(","):
        rows.append(measure(kind, "stream", args.device, args.scale))
        if args.list_scale > 0:
            rows.append(measure(kind, "list", args.device, args.list_scale))
    table = pd.DataFrame(rows)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    stream = table[table["method"] == "stream"]
    print(f"\nstream build peak / final bank: max {stream['peak_over_final'].max():.2f} (target <= 1.25)")


if __name__ == "__main__":
    main()
