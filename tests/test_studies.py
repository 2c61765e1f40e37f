"""The study check: a study row's share of the main run's validation accuracy on the same folds."""
from __future__ import annotations

import json

import pytest

from audiotag.evaluation.studies import assert_study_share, main_run_val_acc, study_share
from audiotag.training.runs import RunDir, RunError


def fake_run(path, val_accs: dict[int, float], n_folds: int = 3) -> RunDir:
    """A run directory with a config and one result.json per fold (what fold_results reads)."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"n_folds": n_folds}))
    for k, acc in val_accs.items():
        (path / f"fold_{k}").mkdir()
        (path / f"fold_{k}" / "result.json").write_text(json.dumps(
            {"best_epoch": 16, "val_acc": acc, "val_map3": acc + 0.05, "epochs_run": 16}))
    return RunDir(path)


def test_share_is_the_row_over_the_main_runs_mean_on_the_same_folds(tmp_path):
    run = fake_run(tmp_path / "1d", {0: 0.6, 1: 0.8, 2: 0.1})
    assert main_run_val_acc(run, [0, 1]) == pytest.approx(0.7)
    assert study_share(0.63, run, [0, 1]) == pytest.approx(0.9)
    assert study_share(0.63, str(run.path), (0,)) == pytest.approx(1.05)     # a path works too
    assert study_share(0.5, run, None) == pytest.approx(0.5 / 0.5)            # all completed folds: mean 0.5


def test_missing_fold_and_failed_check_say_what_is_wrong(tmp_path):
    run = fake_run(tmp_path / "1d", {0: 0.6, 1: 0.8})
    with pytest.raises(RunError, match=r"fold\(s\) \[2\]"):
        study_share(0.6, run, [1, 2])
    assert assert_study_share(0.68, run, [0, 1], 0.9, "the 1.5 s row") == pytest.approx(0.68 / 0.7)
    assert assert_study_share(0.1, run, [0, 1], None) == pytest.approx(0.1 / 0.7)      # no check without a minimum
    with pytest.raises(AssertionError, match=r"the 1\.5 s row reached validation accuracy 0\.350, 50\.0%"):
        assert_study_share(0.35, run, [0, 1], 0.9, "the 1.5 s row")
