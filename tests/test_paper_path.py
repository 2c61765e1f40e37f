"""The ``paper`` profile at its real input sizes, without a GPU: a reader who launches the full reproduction must
meet no shape, dtype, memory-layout or file error hours into it.

On a tiny corpus (4 classes x 7 training clips, enough for 7-fold CV) this trains the 1D-ConvNet on 3 s waveforms at
44.1 kHz and the 2D-ConvNet on 3 x 299 x 299 log-mel images, with the paper's batch sizes, folds and recipe, for one
epoch per fold (2 for the 1D net; all 5 and 7 folds); kills the 1D run mid-fold and resumes it; predicts out-of-fold and test clips; and builds submission
2's ensemble (5 best 2D folds + 3 best 1D folds, weights 3:3:2:2:2:1:1:1) from the two runs.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from audiotag.evaluation.ensembles import EnsembleSpec, build_ensemble
from audiotag.evaluation.paper_results import SUBMISSION2
from audiotag.training.checkpoint import load_checkpoint
from audiotag.training.profiles import make_config
from audiotag.training.runs import RunDir
from audiotag.training.trainer import train
from conftest import make_tone_corpus

ROOT = Path(__file__).resolve().parents[1]
N_CLASSES = 4                  # x 7 training clips: 7-fold CV, and few batches at paper sizes
N_TRAIN, N_TEST = 7 * N_CLASSES, N_CLASSES
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def paper_corpus(tmp_path_factory) -> Path:
    return make_tone_corpus(tmp_path_factory.mktemp("paper_corpus"), train_per_class=7, test_per_class=1,
                            n_classes=N_CLASSES)


@pytest.fixture(scope="module")
def paper_runs(paper_corpus, tmp_path_factory):
    runs = tmp_path_factory.mktemp("paper_runs")
    # 1D: fold 0 through the CLI, killed after its first epoch and resumed; the other folds in-process
    cmd = [sys.executable, "-m", "audiotag.cli", "train", "--model", "conv1d", "--profile", "paper", "--data",
           str(paper_corpus), "--run-dir", str(runs / "1d"), "--folds", "0", "--set", "max_epochs=2", "--quiet"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT)
    state = RunDir(runs / "1d").state_path(0)          # written (atomically) at the end of each epoch
    end = time.monotonic() + 600
    while time.monotonic() < end and not state.exists():
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert RunDir(runs / "1d").state_path(0).exists(), "the 1D run left no resume state after its first epoch"
    resumed = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    one_d = train(make_config("conv1d", None, "paper", quiet=True, max_epochs=2, folds=[1, 2, 3, 4]),
                  paper_corpus, runs / "1d")
    two_d = train(make_config("inception2d", None, "paper", quiet=True, max_epochs=1), paper_corpus, runs / "2d")
    return one_d, two_d


def test_paper_sizes_train_resume_and_predict(paper_runs, paper_corpus):
    one_d, two_d = paper_runs
    assert one_d.completed_folds() == list(range(5)) and two_d.completed_folds() == list(range(7))
    assert one_d.is_complete() and two_d.is_complete() and len(one_d.oof()) == len(two_d.oof()) == N_TRAIN
    assert len(one_d.history(0)) == 2                                  # the killed fold finished its 2 epochs
    c1, c2 = one_d.config(), two_d.config()
    assert (c1["n_folds"], c1["batch_size"], c1["crop_seconds"], c1["features"]["sample_rate"]) == (5, 128, 3.0, 44100)
    assert (c2["n_folds"], c2["batch_size"], c2["features"]["image_size"]) == (7, 16, 299)
    ckpt = load_checkpoint(two_d.checkpoint_path(0))
    assert ckpt.features.image_size == 299 and ckpt.features.kind == "logmel"
    for run, n_val in ((one_d, N_TRAIN // 5), (two_d, N_TRAIN // 7)):
        for k in run.completed_folds():
            oof, test = run.fold_oof(k), run.fold_test(k)
            assert len(oof) >= n_val and len(test) == N_TEST
            assert np.isfinite(oof.probs).all() and np.allclose(test.probs.sum(1), 1, atol=1e-3)


def test_submission_2_ensemble_from_paper_runs(paper_runs):
    one_d, two_d = paper_runs
    spec = EnsembleSpec(method=SUBMISSION2["method"], best={two_d.name: 5, one_d.name: 3},
                        weights=SUBMISSION2["weights"])
    result = build_ensemble([two_d, one_d], spec)
    assert result.members["weight"].tolist() == list(SUBMISSION2["weights"])
    assert result.members["run"].tolist() == ["2d"] * 5 + ["1d"] * 3
    assert len(result.test) == N_TEST and np.isfinite(result.test.probs).all()
