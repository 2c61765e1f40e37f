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


def test_the_row_with_the_main_runs_settings_is_the_main_run_never_trained_again(tmp_path, monkeypatch):
    from audiotag.evaluation import studies
    from audiotag.evaluation.scores import EvaluationError, study_row
    from audiotag.training.profiles import make_config, study_settings

    main = make_config("conv1d", None, "cpu", quiet=True)
    for profile in ("cpu", "paper"):        # under paper: the whole K-fold run (issue: Tables 3/4 retrained it)
        main_p = make_config("conv1d", None, profile)
        same = make_config("conv1d", None, profile, crop_seconds=main_p.crop_seconds,
                           **study_settings(profile, model="conv1d"))
        assert studies.reuses_main_run(same, main_p), profile
    row = make_config("conv1d", None, "cpu", quiet=False, crop_seconds=main.crop_seconds,
                      **study_settings("cpu", model="conv1d"))
    assert studies.reuses_main_run(row, main)                       # printing does not matter
    assert not studies.reuses_main_run(row.replace(crop_seconds=1.0), main)
    assert not studies.reuses_main_run(row.replace(max_epochs=10), main)
    assert not studies.reuses_main_run(row, main.replace(folds=(2,)))       # folds the main run never trained
    assert studies.study_folds(row) == [0, 1] and studies.study_folds(main) == [0, 1, 2]

    trained = []
    monkeypatch.setattr("audiotag.training.trainer.train", lambda cfg, data, path, **kw: trained.append(path) or "ran")
    main_run = fake_run(tmp_path / "1d", {0: 0.6, 1: 0.8, 2: 0.1})
    assert studies.study_run(row, main, main_run, tmp_path / "t3", tmp_path) == (main_run, True)
    assert studies.study_run(row.replace(crop_seconds=1.0), main, main_run, tmp_path / "t3", tmp_path) == ("ran", False)
    assert trained == [tmp_path / "t3"]

    read = study_row(main_run, folds=row.folds)          # the main run read on the row's folds only
    assert read["folds"] == 2 and read["val acc"] == pytest.approx(0.7)
    with pytest.raises(EvaluationError, match=r"fold\(s\) \[5\]"):
        study_row(main_run, folds=[0, 5])
