"""Suspected wrong labels: the suspicion ranking, its detection scores against known wrong labels, the CSV files,
and training that drops or down-weights the flagged clips."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from audiotag.data.datasets import load_dataset
from audiotag.evaluation import label_noise as ln
from audiotag.features.augment import AugmentConfig, Augmenter, sample_mixup
from audiotag.training import trainer
from audiotag.training.config import TrainConfig
from audiotag.training.folds import make_folds
from audiotag.training.prediction_sets import Predictions
from audiotag.training.profiles import make_config
from audiotag.training.runs import RunError
from audiotag.training.trainer import (TrainingError, augment_with_weights, label_noise_arrays, read_flag_file,
                                       soft_cross_entropy, train, training_indices)

CLASSES = ("a", "b", "c", "d")


def _table():
    """Six unverified clips and one verified; the predictions contradict clips u3 (confidently: class d) and u5
    (unsure: spread over the other classes), and the verified v1."""
    rows = [  # fname, label, verified, probabilities of a, b, c, d
        ("u1", "a", 0, (0.85, 0.05, 0.05, 0.05)),
        ("u2", "b", 0, (0.10, 0.70, 0.10, 0.10)),
        ("u3", "c", 0, (0.02, 0.03, 0.25, 0.70)),     # margin 0.45, self-confidence 0.75
        ("u4", "d", 0, (0.20, 0.20, 0.20, 0.40)),
        ("u5", "a", 0, (0.20, 0.30, 0.25, 0.25)),     # margin 0.10, self-confidence 0.80
        ("u6", "b", 0, (0.30, 0.45, 0.15, 0.10)),
        ("v1", "a", 1, (0.01, 0.01, 0.01, 0.97)),
    ]
    train = pd.DataFrame({"fname": [r[0] for r in rows], "label": [r[1] for r in rows],
                          "manually_verified": [bool(r[2]) for r in rows],
                          "path": [f"/data/{r[0]}.wav" for r in rows]})
    oof = Predictions([r[0] for r in rows][::-1], np.array([r[3] for r in rows])[::-1], CLASSES, "oof")
    return oof, train


# --------------------------------------------------------------------------------------------------------------
# The ranking
# --------------------------------------------------------------------------------------------------------------
def test_suspicion_ranks_contradicted_clips_first():
    oof, train = _table()
    table = ln.suspicion_table(oof, train)                               # self-confidence, unverified only
    assert list(table.columns) == [*ln.TABLE_COLUMNS, "manually_verified", "path"]
    assert list(table["fname"]) == ["u5", "u3", "u4", "u6", "u2", "u1"]
    u3 = table.set_index("fname").loc["u3"]
    assert (u3["label"], u3["predicted"], u3["label_rank"]) == ("c", "d", 2)
    assert u3["p_label"] == pytest.approx(0.25) and u3["p_top"] == pytest.approx(0.70)
    assert u3["suspicion"] == pytest.approx(0.75) and u3["path"] == "/data/u3.wav"
    assert table.set_index("fname").loc["u5", "label_rank"] == 4 and table.loc[5, "label_rank"] == 1

    margin = ln.suspicion_table(oof, train, score="margin")             # confidently contradicted first
    assert list(margin["fname"][:2]) == ["u3", "u5"]
    assert margin.set_index("fname").loc["u3", "suspicion"] == pytest.approx(0.70 - 0.25)
    assert margin.set_index("fname").loc["u1", "suspicion"] == pytest.approx(0.05 - 0.85)

    everything = ln.suspicion_table(oof, train, unverified_only=False)
    assert everything["fname"].iloc[0] == "v1" and len(everything) == 7


def test_suspicion_table_refuses_what_it_cannot_rank():
    oof, train = _table()
    with pytest.raises(ValueError, match="unknown suspicion score 'loss'"):
        ln.suspicion_table(oof, train, score="loss")
    with pytest.raises(ValueError, match="none of the 6 training clips.*another dataset"):
        ln.suspicion_table(oof, train.assign(fname=train["fname"] + "x"))
    with pytest.raises(ValueError, match=r"labels \['zebra'\] are not among"):
        ln.suspicion_table(oof, train.assign(label=["zebra"] + list(train["label"][1:])))
    with pytest.raises(ValueError, match="manually_verified"):
        ln.suspicion_table(oof, train.drop(columns="manually_verified"))
    partial = Predictions(oof.fnames[:4], oof.probs[:4], CLASSES)     # a run with some folds only
    table = ln.suspicion_table(partial, train, unverified_only=False)
    assert len(table) == 4 and table.attrs["unscored"] == 3


# --------------------------------------------------------------------------------------------------------------
# Detection scores against known wrong labels
# --------------------------------------------------------------------------------------------------------------
def test_detection_scores_on_a_hand_example():
    ranked = pd.DataFrame({"fname": list("abcdefghij"), "suspicion": np.linspace(1, 0, 10)})
    scores = ln.detection_scores(ranked, {"a", "c", "zz"}, ks=(3, 1, 20))   # zz is not ranked; k=20 > 10 clips
    assert list(scores["k"]) == [1, 3]
    one, three = scores.iloc[0], scores.iloc[1]
    assert (one["found"], one["precision"], one["recall"]) == (1, 1.0, 0.5)
    assert (three["found"], three["precision"], three["recall"]) == (2, pytest.approx(2 / 3), 1.0)
    assert one["chance precision"] == three["chance precision"] == pytest.approx(0.2)   # 2 wrong of 10
    assert (one["chance recall"], three["chance recall"]) == (pytest.approx(0.1), pytest.approx(0.3))
    assert (one["lift"], three["lift"]) == (pytest.approx(5.0), pytest.approx(10 / 3))
    assert scores.attrs["n"] == 10 and scores.attrs["n_wrong"] == 2
    assert scores.attrs["average_precision"] == pytest.approx((1 / 1 + 2 / 3) / 2)
    # a random ranking's expected AP, by enumerating every placement of the 2 wrong clips among 10
    aps = [(1 / r1 + 2 / r2) / 2 for r1, r2 in itertools.combinations(range(1, 11), 2)]
    assert scores.attrs["chance_average_precision"] == pytest.approx(np.mean(aps))
    assert ln.chance_average_precision(10, 1) == pytest.approx(np.mean(1 / np.arange(1, 11)))
    assert ln.chance_average_precision(10, 10) == pytest.approx(1.0)
    worst = ln.detection_scores(ranked, {"j"}, ks=(5,))
    assert worst["found"].tolist() == [0] and worst.attrs["average_precision"] == pytest.approx(0.1)
    with pytest.raises(TypeError, match="collection of fnames"):
        ln.detection_scores(ranked, "a")


# --------------------------------------------------------------------------------------------------------------
# Files: the clips to listen to, and the flag list training reads
# --------------------------------------------------------------------------------------------------------------
def test_suspicious_csv_round_trips_and_is_written_atomically(tmp_path, monkeypatch):
    oof, train = _table()
    table = ln.suspicion_table(oof, train)
    path = ln.write_suspicious_csv(table, tmp_path / "listen" / "suspicious.csv")
    pd.testing.assert_frame_equal(pd.read_csv(path), table)
    top = ln.write_suspicious_csv(table, tmp_path / "top2.csv", top=2)
    assert pd.read_csv(top)["fname"].tolist() == ["u5", "u3"]

    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("audiotag.fileio.os.replace", crash)          # the write dies before the rename
    with pytest.raises(OSError, match="disk full"):
        ln.write_suspicious_csv(table.head(1), path)
    assert path.read_bytes() == before                                # the old file is whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["suspicious.csv"]   # and no temporary file is left


def test_flag_file_is_what_training_reads(tmp_path):
    oof, train = _table()
    table = ln.suspicion_table(oof, train)
    flags = ln.flag_file(table, tmp_path / "flags.csv", top_k=2)
    assert list(pd.read_csv(tmp_path / "flags.csv").columns) == list(ln.FLAG_COLUMNS)
    read = read_flag_file(tmp_path / "flags.csv")
    assert read["fname"].tolist() == ["u5", "u3"] == flags["fname"].tolist() and read["weight"].isna().all()

    ln.flag_file(table, tmp_path / "half.csv", threshold=0.58, weight=0.5)   # u6: 0.55
    read = read_flag_file(tmp_path / "half.csv")
    assert read["fname"].tolist() == ["u5", "u3", "u4"] and (read["weight"] == 0.5).all()
    for bad in ({}, {"top_k": 1, "threshold": 0.5}):
        with pytest.raises(ValueError, match="exactly one of top_k"):
            ln.flag_file(table, tmp_path / "x.csv", **bad)
    with pytest.raises(ValueError, match=r"weight must be in \[0, 1\]"):
        ln.flag_file(table, tmp_path / "x.csv", top_k=1, weight=2.0)

    # how training turns them into per-clip weights, and the same for the classical floor
    cfg = TrainConfig(label_noise="weight", label_noise_file=str(tmp_path / "flags.csv"), label_noise_weight=0.3)
    drop, weight = label_noise_arrays(cfg, train, read_flag_file(tmp_path / "flags.csv"))
    assert drop is None and weight.tolist() == [1, 1, 0.3, 1, 0.3, 1, 1]
    drop, weight = label_noise_arrays(cfg.replace(label_noise="drop"), train, read_flag_file(tmp_path / "half.csv"))
    assert weight is None and drop.tolist() == [False, False, True, True, True, False, False]
    _, weight = label_noise_arrays(cfg, train, read_flag_file(tmp_path / "half.csv"))   # the file's own weight wins
    assert weight.tolist() == [1, 1, 0.5, 0.5, 0.5, 1, 1]
    assert ln.flag_weights(flags, "weight", 0.3) == {"u5": 0.3, "u3": 0.3}
    assert ln.flag_weights(flags, "drop") == {"u5": 0.0, "u3": 0.0}


def test_malformed_flag_files_are_clear_errors(tmp_path):
    with pytest.raises(TrainingError, match="label_noise_file '.*nowhere.csv' does not exist"):
        read_flag_file(tmp_path / "nowhere.csv")
    cases = {"nofname.csv": ("clip,weight\nu1,0.5\n", "no 'fname' column"),
             "twice.csv": ("fname\nu1\nu1\n", r"lists 1 clips twice, e.g. \['u1'\]"),
             "weights.csv": ("fname,weight\nu1,0.5\nu2,1.5\nu3,heavy\nu4,\n", r"weights must be numbers in \[0, 1\].*"
                                                                           r"2 are not, e.g. \['u2', 'u3'\]")}
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(TrainingError, match=message):
            read_flag_file(tmp_path / name)


# --------------------------------------------------------------------------------------------------------------
# Training settings
# --------------------------------------------------------------------------------------------------------------
def test_bad_label_noise_settings_are_clear_errors(tone_corpus, tmp_path):
    with pytest.raises(ValueError, match=r"unknown label_noise 'ignore'; choose one of \('none', 'drop', 'weight'\)"):
        make_config("baseline", None, "smoke", label_noise="ignore", label_noise_file="f.csv")
    for mode in ("drop", "weight"):
        with pytest.raises(ValueError, match=f"label_noise='{mode}' needs label_noise_file"):
            make_config("baseline", None, "smoke", label_noise=mode)
    with pytest.raises(ValueError, match=r"label_noise_weight must be in \[0, 1\], got 1.5"):
        TrainConfig(label_noise_weight=1.5)
    assert make_config("baseline", None, "smoke", label_noise_file="f.csv").label_noise == "none"   # file unused

    config = make_config("baseline", None, "smoke", quiet=True, max_epochs=1, folds=[0], label_noise="drop",
                         label_noise_file=str(tmp_path / "missing.csv"))
    with pytest.raises(TrainingError, match="missing.csv' does not exist"):
        train(config, tone_corpus, tmp_path / "r")
    assert not (tmp_path / "r").exists()                              # refused before any file was written
    (tmp_path / "other.csv").write_text("fname,suspicion,weight\nnot_a_clip.wav,0.9,\n")
    with pytest.raises(TrainingError, match=r"flags 1 clips that are not training clips.*not_a_clip.wav"):
        train(config.replace(label_noise_file=str(tmp_path / "other.csv")), tone_corpus, tmp_path / "r")


def test_soft_cross_entropy_weights_each_clip_loss():
    torch.manual_seed(0)
    logits = torch.randn(4, 5)
    y = torch.nn.functional.one_hot(torch.tensor([0, 3, 1, 1]), 5).float()
    per_clip = -(y * torch.log_softmax(logits, 1)).sum(1)
    plain = soft_cross_entropy(logits, y)
    assert torch.allclose(plain, per_clip.mean())
    assert torch.allclose(soft_cross_entropy(logits, y, torch.full((4,), 0.2)), 0.2 * plain)    # the factor
    w = torch.tensor([1.0, 0.2, 1.0, 0.0])
    assert torch.allclose(soft_cross_entropy(logits, y, w), (per_clip * w).sum() / 4)          # mean over all 4
    assert torch.allclose(soft_cross_entropy(logits, y, torch.ones(4)), plain)


def test_mixup_mixes_the_weights_as_it_mixes_the_labels():
    augment = Augmenter(AugmentConfig(mixup_alpha=0.4, mixup_per_sample=True, erase_prob=0.5))
    x = torch.randn(6, 1, 8, 10)
    y = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 0, 1, 2]), 3).float()
    w = torch.tensor([1.0, 0.2, 1.0, 1.0, 0.2, 0.5])
    xw, yw, ww = augment_with_weights(augment, x, y, w, torch.Generator().manual_seed(7))
    xp, yp = augment(x, y, torch.Generator().manual_seed(7))
    assert torch.equal(xw, xp) and torch.equal(yw, yp)                # the same augmentation as without weights

    mix = Augmenter(AugmentConfig(mixup_alpha=0.4, mixup_per_sample=True, erase_prob=0.0))
    xw, yw, ww = augment_with_weights(mix, x, y, w, torch.Generator().manual_seed(7))
    lam, perm = sample_mixup(6, 0.4, 1.0, True, torch.Generator().manual_seed(7))   # the same draws
    assert not torch.equal(perm, torch.arange(6)) and (lam < 1).any()
    lam = lam.float()
    assert torch.allclose(yw, lam[:, None] * y + (1 - lam[:, None]) * y[perm])
    assert torch.allclose(ww, lam * w + (1 - lam) * w[perm])          # the weights: the same convex combination
    logits = torch.randn(6, 3)
    expected = (-(yw * torch.log_softmax(logits, 1)).sum(1) * (lam * w + (1 - lam) * w[perm])).mean()
    assert torch.allclose(soft_cross_entropy(logits, yw, ww), expected)
    assert augment_with_weights(augment, x, y, None, torch.Generator().manual_seed(7))[2] is None


def test_training_indices_leave_out_dropped_clips_of_the_training_folds_only():
    fold_of = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    drop = np.array([1, 1, 0, 0, 0, 1, 0, 0], dtype=bool)
    assert training_indices(fold_of, 0).tolist() == [1, 2, 4, 5, 7]
    assert training_indices(fold_of, 0, drop).tolist() == [2, 4, 7]
    assert training_indices(fold_of, 1, drop).tolist() == [2, 3, 6]     # 0 and 5 dropped


def _fold0_flags(tone_corpus, tmp_path):
    """Flag two clips of each fold of the smoke runs' 2-fold split on the tone corpus."""
    train_df = load_dataset(tone_corpus).train.reset_index(drop=True)
    fold = make_folds(train_df, 2, seed=0)["fold"].to_numpy()
    flagged = list(train_df["fname"][fold == 0][:2]) + list(train_df["fname"][fold == 1][:2])
    path = tmp_path / "flags.csv"
    pd.DataFrame({"fname": flagged, "suspicion": 0.9, "weight": np.nan}).to_csv(path, index=False)
    return train_df, fold, flagged, path


def _recording_train_epoch(monkeypatch):
    seen = []
    original = trainer._Engine._train_epoch

    def record(self, model, opt, augment, bank, train_idx, *args):
        seen.append(np.array(train_idx))
        return original(self, model, opt, augment, bank, train_idx, *args)

    monkeypatch.setattr(trainer._Engine, "_train_epoch", record)
    return seen


def test_drop_leaves_flagged_clips_out_of_training_but_scores_them(tone_corpus, tmp_path, monkeypatch):
    train_df, fold, flagged, path = _fold0_flags(tone_corpus, tmp_path)
    seen = _recording_train_epoch(monkeypatch)
    config = make_config("baseline", None, "smoke", quiet=True, max_epochs=1, folds=[0], label_noise="drop",
                         label_noise_file=str(path))
    run = train(config, tone_corpus, tmp_path / "drop", predict_test=False)

    assert run.split()["fold"].tolist() == fold.tolist()                    # the split of a run without flags
    trained = set(train_df["fname"][seen[0]])
    assert trained == set(train_df["fname"][fold == 1]) - set(flagged)     # exactly the flagged ones left out
    assert run.fold_result(0)["n_train"] == len(trained) == (fold == 1).sum() - 2
    oof = run.fold_oof(0)
    assert set(oof.fnames) == set(train_df["fname"][fold == 0]) and set(flagged[:2]) <= set(oof.fnames)
    summary = json.loads(run.summary_path.read_text())
    assert summary["label_noise"] == {"mode": "drop", "flagged_training_clips": 4}
    assert run.config()["label_noise"] == "drop" and run.config()["label_noise_flags"]["flagged"] == 4

    # the same run again resumes (skips its finished fold); other flags or another mode are refused
    train(config, tone_corpus, tmp_path / "drop", predict_test=False)
    path.write_text(path.read_text().replace(flagged[-1], train_df["fname"][fold == 1].iloc[-1]))
    with pytest.raises(RunError, match="differs in: label_noise_flags"):
        train(config, tone_corpus, tmp_path / "drop", predict_test=False)
    with pytest.raises(RunError, match="differs in: label_noise, label_noise_flags"):
        train(config.replace(label_noise="weight"), tone_corpus, tmp_path / "drop", predict_test=False)


def test_weight_multiplies_the_flagged_clips_loss(tone_corpus, tmp_path, monkeypatch):
    train_df, fold, flagged, path = _fold0_flags(tone_corpus, tmp_path)
    seen = _recording_train_epoch(monkeypatch)
    weights_seen = []
    original = trainer.soft_cross_entropy

    def spy(logits, targets, weights=None):
        weights_seen.append(weights.detach().clone())
        return original(logits, targets, weights)

    monkeypatch.setattr(trainer, "soft_cross_entropy", spy)
    config = make_config("baseline", None, "smoke", quiet=True, max_epochs=1, folds=[0], label_noise="weight",
                         label_noise_file=str(path), label_noise_weight=0.25)
    run = train(config, tone_corpus, tmp_path / "weight", predict_test=False)

    trained = train_df["fname"][seen[0]]
    assert set(trained) == set(train_df["fname"][fold == 1])                # nobody dropped
    expected = np.where(trained.isin(flagged), 0.25, 1.0)
    n_used = run.fold_result(0)["n_train"] // config.batch_size * config.batch_size   # full batches only
    assert len(expected) == n_used and sorted(torch.cat(weights_seen).tolist()) == sorted(expected.tolist())
    assert run.fold_result(0)["n_train"] == (fold == 1).sum()


# --------------------------------------------------------------------------------------------------------------
# The cheapest out-of-fold predictions: the classical floor
# --------------------------------------------------------------------------------------------------------------
def _features(n_per_class=6, seed=0):
    from audiotag.evaluation.classic import ClassicConfig, ClassicFeatures

    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(CLASSES)), n_per_class)
    x = rng.normal(size=(len(labels), 3)) + 3 * np.eye(len(CLASSES), 3)[labels]   # one class per direction
    x = np.column_stack([np.arange(len(labels)), x])                  # column 0: the row's id, to trace the fits
    train = pd.DataFrame({"fname": [f"c{i:02d}" for i in range(len(labels))], "label": np.array(CLASSES)[labels],
                          "label_index": labels, "manually_verified": False})
    return ClassicFeatures(CLASSES, train, x, None, None, ClassicConfig(), 0.0)


def test_classic_oof_scores_each_clip_with_a_model_that_did_not_see_it(monkeypatch):
    from audiotag.evaluation import classic

    features = _features()
    fits = []
    original = classic.fit_classic

    def spy(x, y, config=None, sample_weight=None):
        fits.append((set(x[:, 0].astype(int)), np.asarray(sample_weight)))
        return original(x, y, config, sample_weight)

    monkeypatch.setattr(classic, "fit_classic", spy)
    oof = classic.classic_oof(features=features, n_folds=3, sample_weight={"c00": 0.0, "c05": 0.5})
    assert list(oof.fnames) == list(features.train["fname"]) and np.allclose(oof.probs.sum(1), 1)
    seen = [rows for rows, _ in fits]
    assert len(seen) == 3 and set().union(*seen) == set(range(24))
    for rows in seen:                                                  # each fold fits on the other two thirds
        assert len(rows) == 16
    weights = {i: w for rows, ws in fits for i, w in zip(sorted(rows), ws)}
    assert weights[0] == 0.0 and weights[5] == 0.5 and weights[1] == 1.0
    assert (oof.probs.argmax(1) == features.train["label_index"]).mean() > 0.8    # learnable, so it learned

    # weight 0 drops a clip from the fit altogether: the same model as fitting without it
    x, y = features.x_train[:, 1:], features.train["label_index"].to_numpy()
    w = np.ones(len(y))
    w[[0, 7]] = 0
    dropped = original(x, y, sample_weight=w)
    without = original(np.delete(x, [0, 7], 0), np.delete(y, [0, 7]))
    np.testing.assert_allclose(dropped.predict_proba(x), without.predict_proba(x), atol=1e-6)
    with pytest.raises(ValueError, match="one weight per training clip"):
        classic.classic_oof(features=features, sample_weight=np.ones(3))


def test_cli_writes_the_suspicious_clips_and_a_flag_file_training_reads(tone_corpus, tmp_path, capsys):
    """``audiotag suspicious``: the runs' out-of-fold predictions ranked against the given labels, written as the
    CSV a person listens through and, with --flags, the file ``label_noise_file`` reads."""
    from audiotag.cli import main

    config = make_config("baseline", None, "smoke", quiet=True, max_epochs=1)
    run_dir = tmp_path / "run"
    train(config, tone_corpus, run_dir, predict_test=False)
    out, flags = tmp_path / "suspicious.csv", tmp_path / "flags.csv"
    assert main(["suspicious", str(run_dir), "--data", str(tone_corpus), "--out", str(out),
                 "--flags", str(flags), "--flag-top", "3"]) == 0
    ranked = pd.read_csv(out)
    train_df = load_dataset(tone_corpus).train
    unverified = set(train_df.loc[~train_df["manually_verified"], "fname"])
    assert set(ranked["fname"]) == unverified                      # every unverified clip, each scored once
    assert ranked["suspicion"].is_monotonic_decreasing
    np.testing.assert_allclose(ranked["suspicion"], 1 - ranked["p_label"])
    assert read_flag_file(flags)["fname"].tolist() == ranked["fname"][:3].tolist()
    assert "flagged 3 clips" in capsys.readouterr().out
    assert main(["suspicious", str(run_dir), "--data", str(tone_corpus), "--flags", str(flags)]) == 2
    assert "exactly one of --flag-top" in capsys.readouterr().err
