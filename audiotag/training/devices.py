"""Device, precision and determinism: pick CUDA / MPS / CPU, decide on bf16 autocast, make runs repeatable.

Repeatable runs on any CPU
--------------------------
A seeded run must give the same numbers twice on the same machine, also when other programs load it. Three things
can break that on a CPU, and each is switched off here:

* **Intel MKL** (torch's BLAS on x86: the matrix products of linear layers, im2col convolutions, FFTs) picks its
  kernels by CPU and, on Intel CPUs with AVX-512, may split a reduction among threads in an order that depends on
  timing and on how the data happen to be aligned. Its *conditional numerical reproducibility* mode
  ``MKL_CBWR=AUTO,STRICT`` keeps the fastest kernels of the CPU but fixes the order. MKL reads the variable at its
  first call, so :func:`request_reproducible_math` sets it (unless the user set it) when ``audiotag`` is imported,
  and :func:`mkl_reproducibility` reads back what MKL actually uses.
* **MKL's dynamic threading** (``MKL_DYNAMIC``) may use fewer threads than asked for; a different thread count is a
  different summation order. Switched off.
* **oneDNN** (the convolutions, and every bf16 kernel) gets its ``deterministic`` attribute
  (``torch.backends.mkldnn.deterministic``).

``benchmarks/train_throughput.py --determinism`` measures what this costs.

Repeatable runs on a CUDA GPU
-----------------------------
cuDNN's autotuner and its non-deterministic convolution kernels are switched off, and
``torch.use_deterministic_algorithms(True)`` makes every other op either deterministic (``index_add_``,
``scatter_add_``, ``index_put_`` with accumulation switch to deterministic kernels) or raise instead of silently
varying; none of the ops of the nets, their input pipeline and their training is on torch's list of those it
refuses (the backward passes of adaptive pooling, bilinear interpolation, NLLLoss, float cumsum, ...). cuBLAS is
deterministic only with a fixed workspace split, ``CUBLAS_WORKSPACE_CONFIG=:4096:8``, read before its first use: it
is requested together with MKL's settings when ``audiotag`` is imported (the user's own value wins).

Precision
---------
``auto`` picks bf16 autocast where it is fast: on CUDA cards that support it, and on CPUs with native bf16
instructions (AVX512-BF16 or AMX: AMD Zen 4 and later, Intel Cooper Lake / Sapphire Rapids and later), where it is
about 2x faster than fp32. Elsewhere bf16 is emulated and 2-3.6x *slower* than fp32, so ``auto`` picks fp32.
The environment variable ``AUDIOTAG_PRECISION`` (``fp32``, ``bf16``, ``fp16``) overrides what ``auto`` picks in
every process that inherits it: ``AUDIOTAG_PRECISION=fp32 make book`` builds the book as a CPU without native bf16
would, on one that has it.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import platform
import random
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

#: Overrides the choice of ``precision="auto"`` (see the module docstring).
PRECISION_ENV = "AUDIOTAG_PRECISION"
PRECISIONS = ("auto", "bf16", "fp16", "fp32")

#: MKL's conditional numerical reproducibility: the CPU's own kernels, in a fixed order (see the module docstring).
MKL_REPRODUCIBLE = "AUTO,STRICT"

#: cuBLAS's deterministic workspace split (8 buffers of 4 MiB; ``:16:8`` also works, with less memory and speed).
CUBLAS_DETERMINISTIC = ":4096:8"


def request_reproducible_math() -> None:
    """Ask MKL (and cuBLAS) for reproducible results before their first call (done when ``audiotag`` is imported).

    Settings the user made in the environment win. MKL and cuBLAS read these once, at their first call: in a process
    that multiplied matrices before importing ``audiotag`` they come too late (:func:`mkl_reproducibility` tells for
    MKL). ``CUBLAS_WORKSPACE_CONFIG`` changes nothing on a machine without CUDA.
    """
    os.environ.setdefault("MKL_CBWR", MKL_REPRODUCIBLE)
    os.environ.setdefault("MKL_DYNAMIC", "FALSE")
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_DETERMINISTIC)


def make_deterministic(device: torch.device) -> None:
    """Switch the kernels of ``device`` to their deterministic variants (called before training).

    On a CUDA device this also turns on ``torch.use_deterministic_algorithms`` for the rest of the process (a
    global switch; on the CPU it is left alone, since it would change no result there but could refuse ops).
    """
    request_reproducible_math()
    torch.backends.mkldnn.deterministic = True
    lib = _torch_cpu_library()
    if lib is not None and hasattr(lib, "MKL_Set_Dynamic"):
        lib.MKL_Set_Dynamic(ctypes.c_int(0))
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True)


def mkl_reproducibility() -> str:
    """What MKL's reproducibility mode is in this process: ``AUTO,STRICT`` when :func:`make_deterministic`'s request
    took effect, ``off`` when MKL runs free, ``unknown`` where torch has no MKL (ARM, some builds)."""
    lib = _torch_cpu_library()
    get = getattr(lib, "mkl_serv_cbwr_get", None) if lib is not None else None
    if get is None:
        return "unknown"
    get.restype, get.argtypes = ctypes.c_int, [ctypes.c_int]
    mode = get(-1) & 0xFFFFFFFF          # MKL_CBWR_ALL: branch | STRICT flag (0x10000)
    branch = {0: "off", 1: "off", 2: "AUTO", 3: "COMPATIBLE"}.get(mode & 0xFFFF, f"branch {mode & 0xFFFF}")
    return f"{branch},STRICT" if mode & 0x10000 else branch


@lru_cache(maxsize=1)
def _torch_cpu_library():
    path = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        return ctypes.CDLL(str(path)) if path.exists() else None
    except OSError:
        return None


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple's MPS, then the CPU."""
    if device is None or str(device) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (x86 AVX512-BF16 or AMX-BF16), where bf16 autocast beats fp32."""
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(p is not None for p in probes):
        return any(bool(p()) for p in probes if p is not None)
    try:   # older torch: the kernel's CPU flags
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` (``auto``, ``bf16``, ``fp16``, ``fp32``) on ``device``; None = fp32.

    ``auto``: what ``$AUDIOTAG_PRECISION`` says, if set; else bf16 on CUDA cards that support it (else fp16); on
    the CPU bf16 only with native bf16 instructions (:func:`cpu_has_native_bf16`), fp32 otherwise; fp32 on any other
    device.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use {', '.join(PRECISIONS)}")
    if precision == "auto":
        precision = os.environ.get(PRECISION_ENV, "").strip().lower() or "auto"
        if precision not in PRECISIONS:
            raise ValueError(f"{PRECISION_ENV}={os.environ[PRECISION_ENV]!r} is not a precision; "
                             f"use {', '.join(PRECISIONS)} (or unset it)")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def precision_name(dtype: torch.dtype | None) -> str:
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """The loss scaler of a training step in ``dtype`` on ``device``: enabled for fp16 only.

    fp16 keeps 5 exponent bits: gradients below about 6e-8 become zero and the weights they belong to stop
    learning. The scaler multiplies the loss (so every gradient) by a large factor before the backward pass, divides
    the gradients by it before the optimizer step, skips steps whose gradients overflowed and adapts the factor.
    bf16 has fp32's exponent range and needs none; disabled, the scaler passes loss and step through untouched.
    """
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def autocast(device: torch.device, dtype: torch.dtype | None):
    """An autocast context for ``dtype`` on ``device``, or a no-op for fp32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_states(*generators: torch.Generator) -> dict:
    """Every random state of the process and of ``generators``, as CPU tensors / plain objects (for a resume file)."""
    states = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
              "generators": [g.get_state() for g in generators]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict, *generators: torch.Generator) -> None:
    """Undo :func:`rng_states`, wherever the saved tensors were loaded to (``torch.load(map_location=...)`` may have
    put them on a GPU: generator states must be CPU byte tensors)."""
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(_cpu_bytes(states["torch"]))
    saved = states["generators"]
    if len(saved) != len(generators):
        raise ValueError(f"the resume state holds {len(saved)} generator states, expected {len(generators)}")
    for gen, state in zip(generators, saved):
        gen.set_state(_cpu_bytes(state))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_cpu_bytes(s) for s in states["cuda"]])


def _cpu_bytes(state: torch.Tensor) -> torch.Tensor:
    return state.to("cpu", torch.uint8)


def machine_info(device: torch.device | None = None, precision: str | None = None) -> dict:
    """CPU model, cores, torch version, device (and GPU name), precision: what a result was measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "native_bf16": cpu_has_native_bf16(),
            "mkl_reproducibility": mkl_reproducibility()}
    if device is not None:
        info["device"] = str(device)
        if device.type == "cuda":
            info["gpu"] = torch.cuda.get_device_name(device)
    if precision is not None:
        info["precision"] = precision
    return info


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
