"""The GPU paths of training and inference, checked on the CPU (issue 20): fp16 loss scaling, augmentation that
never makes float64 off the CPU (Apple's MPS has none), resume states bound to the device type and precision they
started with, one bank dtype for training and ``audiotag predict``, CUDA's determinism switches, the CPU's
reproducibility settings, and one full-size training step of each paper recipe.

Where a GPU is needed to show a defect, the test fakes the device: a generator that says it lives on MPS, an engine
or predictor told it runs on CUDA, or the settings ``make_deterministic`` makes for a CUDA device object (which
torch accepts without CUDA).
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from audiotag.data.labels import LABELS
from audiotag.features.augment import AugmentConfig, Augmenter, sample_mixup
from audiotag.inference.predictor import Predictor
from audiotag.models import build_model
from audiotag.training import devices, trainer
from audiotag.training.bank import BankFiller, ClipBank, add_in_rounds, average_windows, bank_dtype
from audiotag.training.devices import PRECISION_ENV, grad_scaler, make_deterministic, request_reproducible_math
from audiotag.training.profiles import make_config
from audiotag.training.runs import RunDir
from audiotag.training.schedule import PlateauSchedule
from audiotag.training.trainer import (TrainingError, _Engine, restore_training_state, train, training_step)

ROOT = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
CUDA = torch.device("cuda")      # only ever an argument: these tests run without CUDA


# --------------------------------------------------------------------------------------------------------------
# Interrupting a run after its first epoch, in-process
# --------------------------------------------------------------------------------------------------------------
class _Stop(Exception):
    """Raised right after the first resume state is written: what a kill after epoch 1 leaves behind."""


def _train_until_first_state(config, data, run_dir) -> RunDir:
    real = trainer.save_training_state

    def save_then_stop(*args, **kwargs):
        real(*args, **kwargs)
        raise _Stop

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trainer, "save_training_state", save_then_stop)
        with pytest.raises(_Stop):
            train(config, data, run_dir)
    run = RunDir(run_dir)
    assert run.state_path(0).exists() and not run.result_path(0).exists()
    return run


def _smoke(**overrides):
    return make_config("conv1d", None, "smoke", quiet=True, folds=[0], max_epochs=2, early_stop_patience=99,
                       **overrides)


def _assert_same_fold(a: RunDir, b: RunDir, k: int = 0) -> None:
    cols = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_map3", "lr"]
    pd.testing.assert_frame_equal(a.history(k)[cols], b.history(k)[cols])
    np.testing.assert_array_equal(a.fold_oof(k).probs, b.fold_oof(k).probs)
    np.testing.assert_array_equal(a.fold_test(k).probs, b.fold_test(k).probs)


@pytest.fixture(scope="module")
def interrupted_fp32(tone_corpus, tmp_path_factory) -> RunDir:
    """A conv1d smoke run (fold 0, 2 epochs) under precision auto with AUDIOTAG_PRECISION=fp32, stopped after its
    first epoch. Tests copy it before resuming."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PRECISION_ENV, "fp32")
        return _train_until_first_state(_smoke(), tone_corpus, tmp_path_factory.mktemp("interrupted") / "run")


def _copy_run(run: RunDir, dest: Path) -> RunDir:
    shutil.copytree(run.path, dest)
    return RunDir(dest)


# --------------------------------------------------------------------------------------------------------------
# 1. fp16 needs loss scaling
# --------------------------------------------------------------------------------------------------------------
def test_fp16_steps_scale_the_loss_so_small_gradients_survive():
    """Gradients of about 5e-9 are zero in fp16 (its smallest number is 6e-8): the step without a scaler leaves the
    weights where they were, the training step with the fp16 scaler moves them."""
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 3, bias=False)
    x = torch.full((4, 8), 1e-4)
    y = F.one_hot(torch.tensor([0, 1, 2, 0]), 3).float()
    weight = torch.full((4,), 1e-4)                    # a tiny loss (a down-weighted batch, a late epoch)

    def moved(scaler):
        m = copy.deepcopy(model)
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)
        before = m.weight.detach().clone()
        loss, logits = training_step(m, opt, scaler, x, y, weight, CPU, torch.float16)
        assert logits.dtype == torch.float16 and torch.isfinite(loss)
        return float((m.weight.detach() - before).abs().max())

    assert moved(torch.amp.GradScaler("cpu", enabled=False)) == 0.0   # what the step did before: nothing learned
    scaler = grad_scaler(CPU, torch.float16)
    assert scaler.is_enabled() and moved(scaler) > 0
    assert not grad_scaler(CPU, torch.bfloat16).is_enabled() and not grad_scaler(CPU, None).is_enabled()


def test_an_fp16_run_scales_its_loss_and_resumes_exactly(tone_corpus, tmp_path):
    """precision=fp16 on the CPU (fp16 autocast, torch.amp.GradScaler('cpu')): the resume state holds the scaler's
    state, and a run stopped after epoch 1 and resumed equals an uninterrupted one."""
    config = _smoke(precision="fp16")
    straight = train(config, tone_corpus, tmp_path / "straight")
    assert np.isfinite(straight.history(0)["train_loss"]).all()
    run = _train_until_first_state(config, tone_corpus, tmp_path / "resumed")
    state = torch.load(run.state_path(0), map_location="cpu", weights_only=False)
    assert state["precision"] == "fp16" and state["device"] == "cpu"
    assert {"scale", "_growth_tracker"} <= set(state["scaler"]) and state["scaler"]["scale"] > 0
    train(config, tone_corpus, run.path)
    _assert_same_fold(run, straight)


# --------------------------------------------------------------------------------------------------------------
# 2. No float64 off the CPU (MPS)
# --------------------------------------------------------------------------------------------------------------
class _MPSGenerator(torch.Generator):
    """A CPU generator that says it lives on Apple's MPS, as the trainer's generator did on a Mac."""

    @property
    def device(self):
        return torch.device("mps")


class _FakeMPS(TorchFunctionMode):
    """Runs calls aimed at the fake MPS device (``device=mps``, or a draw from an :class:`_MPSGenerator`) on the CPU,
    recording each one that asks for or returns float64: MPS would refuse it."""

    def __init__(self):
        super().__init__()
        self.float64 = []
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        device = kwargs.get("device")
        on_mps = isinstance(kwargs.get("generator"), _MPSGenerator) or (
            device is not None and torch.device(device).type == "mps")
        if on_mps:
            self.calls += 1
            kwargs["device"] = "cpu"
        out = func(*args, **kwargs)
        if on_mps and (kwargs.get("dtype") == torch.float64 or any(
                isinstance(t, torch.Tensor) and t.dtype == torch.float64 for t in tree_flatten(out)[0])):
            self.float64.append(getattr(func, "__name__", str(func)))
        return out


class _Float64OffCPU(TorchDispatchMode):
    """Records every aten op that produces a float64 tensor on a device other than the CPU."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if any(isinstance(t, torch.Tensor) and t.dtype == torch.float64 and t.device.type != "cpu"
               for t in tree_flatten(out)[0]):
            self.ops.append(str(func))
        return out


def test_augmentation_with_a_gpu_generator_makes_no_float64_off_the_cpu():
    """Every augmentation step (SpecAugment and random erasing with random fills, per-example mixup with a
    probability, the identity mixup) with a generator on (fake) MPS and the batch on a non-CPU device (meta): no
    float64 is asked of the generator's device and none appears on the batch's."""
    cfg = AugmentConfig(mixup_alpha=0.4, mixup_prob=0.7, mixup_per_sample=True, erase_prob=0.8,
                        erase_value="random", freq_masks=2, freq_width=5, time_masks=2, time_width=7,
                        mask_value="random")
    gen = _MPSGenerator()
    gen.manual_seed(0)
    x = torch.randn(6, 3, 20, 30).to("meta")
    y = F.one_hot(torch.arange(6) % 4, 4).float().to("meta")
    waves = torch.randn(6, 1, 400).to("meta")
    fake, dispatch = _FakeMPS(), _Float64OffCPU()
    with fake, dispatch:
        out, soft = Augmenter(cfg)(x, y, gen)
        Augmenter(cfg)(waves, y, gen)
        sample_mixup(6, 0.0, generator=gen)
    assert fake.calls > 0, "the fake MPS generator was never asked for a draw"
    assert fake.float64 == [] and dispatch.ops == []
    assert out.device.type == "meta" and out.dtype == torch.float32 and soft.dtype == torch.float32


def test_a_cpu_generator_augments_alike_on_any_device():
    """Boxes, masks and mixing weights come from the CPU generator alone: a batch on the meta device gets the
    parameters a CPU batch gets (same draws consumed, same generator state afterwards)."""
    cfg = AugmentConfig(mixup_alpha=0.4, erase_prob=1.0, freq_masks=1, time_masks=1, freq_width=4, time_width=4)
    x, y = torch.randn(4, 3, 20, 30), F.one_hot(torch.arange(4), 4).float()
    a, b = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    Augmenter(cfg)(x, y, a)
    with _Float64OffCPU() as dispatch:
        Augmenter(cfg)(x.to("meta"), y.to("meta"), b)
    assert dispatch.ops == [] and torch.equal(a.get_state(), b.get_state())


# --------------------------------------------------------------------------------------------------------------
# 3. Resume on another device
# --------------------------------------------------------------------------------------------------------------
def test_the_fold_generators_live_on_the_cpu_whatever_the_device(tone_corpus, interrupted_fp32):
    """The trainer made its crop/augmentation generator on the training device: a CPU-started state could not be
    loaded into it on a GPU (nor a GPU one on the CPU), and on MPS it drew float64. Both generators are CPU ones now,
    and a CPU run's saved states load into those an engine on CUDA makes."""
    engine = _Engine(_smoke(), tuple(LABELS[:8]))
    engine.device = CUDA                     # an engine that believes it trains on a GPU
    gens = engine.fold_generators(0)
    assert [g.device.type for g in gens] == ["cpu", "cpu"]
    saved = torch.load(interrupted_fp32.state_path(0), map_location="cpu", weights_only=False)["rng"]["generators"]
    for g, state in zip(gens, saved):
        g.set_state(state)
        assert torch.equal(g.get_state(), state)


@pytest.mark.filterwarnings("ignore:.*meta parameter")
def test_resuming_on_another_device_type_is_refused_naming_both(interrupted_fp32):
    """A fold started on the CPU does not silently continue on another device (the meta device stands in for a GPU):
    the error names the run, the fold and both devices, and says how to go on."""
    state = interrupted_fp32.state_path(0)
    model = build_model("conv1d", n_classes=len(interrupted_fp32.classes())).to("meta")
    opt = torch.optim.Adam(model.parameters())
    gens = (torch.Generator(), torch.Generator())
    with pytest.raises(TrainingError) as err:
        restore_training_state(state, model, opt, PlateauSchedule(), gens, "meta")
    text = str(err.value)
    for part in ("started on cpu", "continue it on meta", "--device cpu", str(state)):
        assert part in text, (part, text)


def test_an_older_state_with_a_gpu_generator_is_a_clear_error(interrupted_fp32, tmp_path):
    """A resume state written on a GPU before the generators moved to the CPU holds a CUDA generator's 16-byte
    state (and no device or precision): it cannot be continued, and the error says what to do."""
    saved = torch.load(interrupted_fp32.state_path(0), map_location="cpu", weights_only=False)
    del saved["device"], saved["precision"]
    saved["rng"]["generators"][0] = torch.zeros(16, dtype=torch.uint8)
    path = tmp_path / "state.pt"
    torch.save(saved, path)
    model = build_model("conv1d", n_classes=len(interrupted_fp32.classes()))
    with pytest.raises(TrainingError, match="do not fit this fold's generators.*delete"):
        restore_training_state(path, model, torch.optim.Adam(model.parameters()), PlateauSchedule(),
                               (torch.Generator(), torch.Generator()), "cpu")


# --------------------------------------------------------------------------------------------------------------
# 4. One bank dtype for training, validation and predict
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", [CPU, CUDA])
def test_training_and_predict_bank_the_same_dtype(device, tone_corpus, monkeypatch):
    """The training bank (which validation scores) was float16 on CUDA, the Predictor's float32: validation and
    `audiotag predict` saw different inputs. Both ask bank_dtype now. The banks are built on the CPU; the engine
    and the predictor are told they run on ``device``."""
    seen = []
    real_init = BankFiller.__init__

    def spy(self, item_shape, capacity, bank_device, dtype, short_clip):
        dtype = bank_dtype(bank_device) if dtype is None else dtype
        seen.append((torch.device(bank_device).type, dtype))
        real_init(self, item_shape, capacity, "cpu", dtype, short_clip)

    monkeypatch.setattr(BankFiller, "__init__", spy)
    config = _smoke()
    paths = sorted(str(p) for p in (tone_corpus / "audio_train").glob("*.wav"))[:3]
    engine = _Engine(config, tuple(LABELS[:8]))
    engine.device = device
    engine.load_bank(paths, "training clips")
    predictor = Predictor(build_model("conv1d", n_classes=8), LABELS[:8], config.features, config.inference,
                          device="cpu")
    predictor.device = device
    predictor.predict_waves([np.zeros(8000, dtype=np.float32)])
    expected = torch.float16 if device.type == "cuda" else torch.float32
    assert seen == [(device.type, expected), (device.type, expected)]
    assert bank_dtype(device) == expected and ClipBank([torch.zeros(1, 5)]).data.dtype == torch.float32


# --------------------------------------------------------------------------------------------------------------
# 5. CUDA determinism
# --------------------------------------------------------------------------------------------------------------
@pytest.fixture
def restore_determinism():
    """Undo the global switches make_deterministic flips, and the environment it may set."""
    saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
             torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic, torch.backends.mkldnn.deterministic)
    env = {k: os.environ.get(k) for k in ("MKL_CBWR", "MKL_DYNAMIC", "CUBLAS_WORKSPACE_CONFIG")}
    yield
    torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved[2], saved[3]
    torch.backends.mkldnn.deterministic = saved[4]
    for key, value in env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_make_deterministic_on_cuda_sets_every_switch(restore_determinism):
    """For a CUDA device: cuDNN without autotuning and with deterministic kernels, torch's deterministic algorithms
    (index_add_ and the like become deterministic, the rest raise), and cuBLAS's fixed workspace."""
    os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = True, False
    make_deterministic(CUDA)
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_make_deterministic_on_the_cpu_leaves_torch_s_global_switch_alone(restore_determinism):
    """The CPU's numbers are the book's: the CPU path turns on MKL's and oneDNN's modes only."""
    torch.use_deterministic_algorithms(False)
    make_deterministic(CPU)
    assert not torch.are_deterministic_algorithms_enabled() and torch.backends.mkldnn.deterministic


def test_the_users_cublas_workspace_setting_wins(restore_determinism):
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":16:8"
    make_deterministic(CUDA)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"


def test_window_averaging_in_rounds_equals_index_add_bit_for_bit():
    """The GPU's window averaging (rounds of index_add_ with distinct targets, no two additions racing) gives the
    CPU's sums exactly, windows in any order, clips without windows included."""
    gen = torch.Generator().manual_seed(0)
    owner = torch.tensor([3, 0, 0, 3, 1, 3, 0, 5, 3, 3, 1, 0, 0, 3, 3])
    scores = torch.softmax(torch.randn(len(owner), 41, generator=gen) * 4, dim=1)
    expected = torch.zeros(7, 41).index_add_(0, owner, scores)
    got = add_in_rounds(torch.zeros(7, 41), owner, scores)
    assert got.numpy().tobytes() == expected.numpy().tobytes()
    mean = average_windows(scores, owner, 7)
    assert torch.equal(mean[[2, 4, 6]], torch.zeros(3, 41)) and torch.allclose(mean.sum(1)[[0, 1, 3, 5]],
                                                                                torch.ones(4))


# --------------------------------------------------------------------------------------------------------------
# 6. The precision of a run is recorded and kept
# --------------------------------------------------------------------------------------------------------------
def test_resuming_under_another_precision_is_refused_until_the_recorded_one_is_set(interrupted_fp32, tone_corpus,
                                                                                   tmp_path, monkeypatch):
    """A fold started in fp32 (precision auto, AUDIOTAG_PRECISION=fp32) is not continued in bf16 when the variable
    changes: the error says which variable to set to what; set back, the fold resumes and equals a straight run."""
    run = _copy_run(interrupted_fp32, tmp_path / "run")
    monkeypatch.setenv(PRECISION_ENV, "bf16")
    with pytest.raises(TrainingError, match=f"run 'run' fold 0 was started in fp32 .* continue it in bf16.*"
                                            f"{PRECISION_ENV}=fp32"):
        train(_smoke(), tone_corpus, run.path)
    assert len(run.history(0)) == 1                            # nothing was trained under the other precision
    state = torch.load(run.state_path(0), map_location="cpu", weights_only=False)
    assert state["precision"] == "fp32" and state["device"] == "cpu"
    monkeypatch.setenv(PRECISION_ENV, "fp32")
    train(_smoke(), tone_corpus, run.path)
    straight = train(_smoke(), tone_corpus, tmp_path / "straight")
    _assert_same_fold(run, straight)
    from audiotag.training.checkpoint import load_checkpoint
    info = load_checkpoint(run.checkpoint_path(0)).info
    assert info["precision"] == "fp32" and info["device"] == "cpu"


# --------------------------------------------------------------------------------------------------------------
# 7. The CPU's reproducibility settings
# --------------------------------------------------------------------------------------------------------------
_PROBE = ("import audiotag, json, os, torch; from audiotag.training.devices import mkl_reproducibility; "
          "torch.randn(64, 64) @ torch.randn(64, 64); "
          "print(json.dumps({k: os.environ.get(k) for k in ('MKL_CBWR', 'MKL_DYNAMIC', 'CUBLAS_WORKSPACE_CONFIG')} "
          "| {'mkl': mkl_reproducibility()}))")


def _probe(**env) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "MKL_DYNAMIC", "CUBLAS_WORKSPACE_CONFIG")}
    out = subprocess.run([sys.executable, "-c", _PROBE], env={**clean, "PYTHONPATH": str(ROOT), **env}, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_audiotag_requests_reproducible_math_before_mkl_starts():
    """A fresh process that imports audiotag gets MKL's conditional numerical reproducibility (and MKL reports it
    in use after a matrix product), no dynamic threading, and cuBLAS's deterministic workspace."""
    got = _probe()
    assert got["MKL_CBWR"] == "AUTO,STRICT" and got["MKL_DYNAMIC"] == "FALSE"
    assert got["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
    if got["mkl"] == "unknown":
        pytest.skip("this torch has no MKL")
    assert got["mkl"] == "AUTO,STRICT"


def test_the_users_mkl_settings_win():
    got = _probe(MKL_CBWR="COMPATIBLE", MKL_DYNAMIC="TRUE", CUBLAS_WORKSPACE_CONFIG=":16:8")
    assert (got["MKL_CBWR"], got["MKL_DYNAMIC"], got["CUBLAS_WORKSPACE_CONFIG"]) == ("COMPATIBLE", "TRUE", ":16:8")
    if got["mkl"] != "unknown":
        assert got["mkl"] == "COMPATIBLE"


def test_request_reproducible_math_sets_only_what_is_unset(monkeypatch):
    monkeypatch.setenv("MKL_CBWR", "AVX2")
    monkeypatch.delenv("MKL_DYNAMIC", raising=False)
    request_reproducible_math()
    assert os.environ["MKL_CBWR"] == "AVX2" and os.environ["MKL_DYNAMIC"] == "FALSE"


def test_make_deterministic_switches_off_mkl_dynamic_threads_and_on_onednn_determinism(restore_determinism):
    lib = devices._torch_cpu_library()
    get = getattr(lib, "mkl_serv_get_dynamic", None) if lib is not None else None
    torch.backends.mkldnn.deterministic = False
    if get is not None:
        lib.MKL_Set_Dynamic(1)
        assert get() == 1
    make_deterministic(CPU)
    assert torch.backends.mkldnn.deterministic
    if get is not None:
        assert get() == 0


# --------------------------------------------------------------------------------------------------------------
# 8. One training step of each paper recipe at full size
# --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model, clip_seconds", [("conv1d", 3.2), ("inception2d", 3.6)])
def test_a_paper_recipe_takes_one_full_size_step(model, clip_seconds):
    """One real training step (crops from a bank, augmentation, autocast, the loss scaler, Adam) of the paper
    recipe with its batch at its input size: 128 waveform crops of 3 s at 44.1 kHz for the 1D net (about 8 s and
    4.5 GB of memory on 2 cores), 16 log-mel images of 3 x 299 x 299 for the 2D net (about 2 s). The loss is finite
    and every trainable tensor moves."""
    config = make_config(model, None, "paper", quiet=True)
    engine = _Engine(config, tuple(LABELS))
    engine._where = f"paper {model}"
    batch = config.batch_size
    rng = np.random.default_rng(0)
    waves = [0.1 * rng.standard_normal(int(clip_seconds * config.features.sample_rate)).astype(np.float32)
             for _ in range(batch)]
    bank = ClipBank([engine.pipeline.clip_item(w) for w in waves], engine.device)
    assert engine.pipeline.model_input(bank.center_crops([0], engine.crop)).shape[1:] == (
        (1, 132300) if model == "conv1d" else (3, 299, 299))
    net = engine.new_model()
    opt = torch.optim.Adam(net.parameters(), lr=config.lr)
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    gen, order_gen = engine.fold_generators(0)
    targets = torch.as_tensor(np.arange(batch) % len(LABELS))
    t0 = time.perf_counter()
    loss, _ = engine._train_epoch(net, opt, Augmenter(config.augment), bank, np.arange(batch), targets, gen,
                                  order_gen, 0, lambda step: config.lr, grad_scaler(engine.device, engine.amp_dtype))
    seconds = time.perf_counter() - t0
    assert engine.n_batches(batch) == 1 and np.isfinite(loss)
    still = [name for name, p in net.named_parameters() if torch.equal(p.detach(), before[name])]
    assert still == [], f"parameters that did not move: {still}"
    print(f"{model}: one step of {batch} in {seconds:.1f} s ({engine.precision})")
