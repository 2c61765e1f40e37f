import numpy as np
import pandas as pd
import pytest

from audiotag.evaluation.ensembles import (GEOMETRIC_EPS, EnsembleError, EnsembleSpec, arithmetic_mean,
                                           build_ensemble, geometric_mean, normalised_ranks, rank_average,
                                           select_members, stack)
from audiotag.fileio import write_json
from audiotag.training.metrics import accuracy
from audiotag.training.prediction_sets import Predictions, PredictionsError
from audiotag.training.runs import RunDir

CLASSES = ("a", "b", "c", "d")


def make_run(root, name, train_fnames, train_labels, fold_of, oof_probs, test_fnames, test_probs, val_accs,
             classes=CLASSES):
    """A run directory in audiotag.training.runs' layout, from arrays (no training involved)."""
    run = RunDir(root / name)
    n_folds = len(val_accs)
    write_json(run.config_path, {"classes": list(classes), "n_folds": n_folds})
    run.path.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"fname": train_fnames, "label": train_labels, "fold": fold_of}).to_csv(run.split_path, index=False)
    for k in range(n_folds):
        held_out = np.asarray(fold_of) == k
        Predictions(np.asarray(train_fnames)[held_out], oof_probs[held_out], classes).save(run.fold_oof_path(k))
        Predictions(test_fnames, test_probs[k], classes).save(run.fold_test_path(k))
        write_json(run.result_path(k), {"best_epoch": 1, "val_acc": val_accs[k], "val_map3": val_accs[k],
                                        "epochs_run": 1})
    return run


def random_probs(rng, n, c=len(CLASSES)):
    return rng.dirichlet(np.ones(c), size=n).astype(np.float32)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    n_train, n_test = 40, 12
    train = np.array([f"tr{i:02d}.wav" for i in range(n_train)])
    labels = np.array([CLASSES[i % 4] for i in range(n_train)])
    test = np.array([f"te{i:02d}.wav" for i in range(n_test)])
    return rng, train, labels, test


# --- combiners on hand-made arrays ------------------------------------------------------------------------------
def test_rank_average_hand_case_with_ties_and_weights():
    m1 = np.array([[0.6, 0.4], [0.3, 0.7], [0.3, 0.7]])  # ties in both classes -> average ranks
    m2 = np.array([[0.1, 0.9], [0.9, 0.1], [0.5, 0.5]])
    np.testing.assert_allclose(normalised_ranks(m1), [[1, 0], [0.25, 0.75], [0.25, 0.75]])
    np.testing.assert_allclose(normalised_ranks(m2), [[0, 1], [1, 0], [0.5, 0.5]])
    expected = 0.75 * normalised_ranks(m1) + 0.25 * normalised_ranks(m2)  # weights 3:1
    np.testing.assert_allclose(rank_average([m1, m2], [3, 1]), expected)
    np.testing.assert_allclose(expected, [[0.75, 0.25], [0.4375, 0.5625], [0.3125, 0.6875]])


def test_rank_average_rows_sum_to_one_and_ignore_calibration():
    rng = np.random.default_rng(1)
    p, q = rng.dirichlet(np.ones(5), 30), rng.dirichlet(np.ones(5), 30)
    out = rank_average([p, q], [2, 1])
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    # Ranks depend only on the order of each class's scores: a monotone transform of a member changes nothing.
    np.testing.assert_allclose(rank_average([p ** 3, np.sqrt(q)], [2, 1]), out)
    with pytest.raises(EnsembleError, match="at least 2 clips"):
        rank_average([p[:1]])


def test_weighted_mean_and_weight_count():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    q = np.array([[0.0, 1.0], [0.1, 0.9]])
    np.testing.assert_allclose(arithmetic_mean([p, q], [3, 1]), [[0.75, 0.25], [0.4, 0.6]])
    np.testing.assert_allclose(arithmetic_mean([p, q]), [[0.5, 0.5], [0.3, 0.7]])
    with pytest.raises(EnsembleError, match="3 weights for 2 members"):
        arithmetic_mean([p, q], [1, 1, 1])


def test_geometric_mean_with_zeros_is_finite_and_floored():
    p = np.array([[0.0, 1.0], [0.5, 0.5]])
    q = np.array([[0.5, 0.5], [0.0, 1.0]])
    out = geometric_mean([p, q])
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    g = np.array([np.sqrt(GEOMETRIC_EPS * 0.5), np.sqrt(1.0 * 0.5)])
    np.testing.assert_allclose(out[0], g / g.sum())
    # Weights are exponents: weights 3:1 give p^0.75 q^0.25.
    g = np.array([0.5 ** 0.75 * GEOMETRIC_EPS ** 0.25, 0.5 ** 0.75 * 1.0 ** 0.25])
    np.testing.assert_allclose(geometric_mean([p, q], [3, 1])[1], g / g.sum())


# --- the specification ---------------------------------------------------------------------------------------------
def test_spec_text_round_trip_and_errors():
    spec = EnsembleSpec.parse("rank; best=2d=5,1d=3; weights=3,3,2,2,2,1,1,1")
    assert spec == EnsembleSpec("rank", {"2d": 5, "1d": 3}, (3, 3, 2, 2, 2, 1, 1, 1))
    assert EnsembleSpec.parse(str(spec)) == spec
    assert EnsembleSpec.parse("geometric runs=runs/a,runs/b").runs == ("runs/a", "runs/b")
    with pytest.raises(EnsembleError, match="unknown ensemble method 'median'"):
        EnsembleSpec.parse("median")
    with pytest.raises(EnsembleError, match="not RUN=K"):
        EnsembleSpec.parse("rank best=2d")
    with pytest.raises(EnsembleError, match="stacking learns its own"):
        EnsembleSpec.parse("stack weights=1,2")
    with pytest.raises(EnsembleError, match="unknown field 'wieghts'"):
        EnsembleSpec.parse("mean wieghts=1")


# --- runs: selection, test and out-of-fold combination -------------------------------------------------------------
def test_k_best_folds_by_val_acc_and_paper_recipe(tmp_path, data):
    rng, train, labels, test = data
    acc2d = [0.80, 0.86, 0.83, 0.90, 0.79, 0.86, 0.84]   # best 5: folds 3, 1, 5 (tie -> lower fold), 6, 2
    acc1d = [0.70, 0.72, 0.69, 0.75, 0.71]               # best 3: folds 3, 1, 4
    r2 = make_run(tmp_path, "2d", train, labels, np.arange(40) % 7, random_probs(rng, 40), test,
                  np.stack([random_probs(rng, 12) for _ in acc2d]), acc2d)
    r1 = make_run(tmp_path, "1d", train, labels, np.arange(40) % 5, random_probs(rng, 40), test,
                  np.stack([random_probs(rng, 12) for _ in acc1d]), acc1d)
    spec = EnsembleSpec.parse("rank; best=2d=5,1d=3; weights=3,3,2,2,2,1,1,1")
    members = select_members([r2, r1], spec)
    assert [(m.run.name, m.fold, m.weight) for m in members] == [
        ("2d", 3, 3), ("2d", 1, 3), ("2d", 5, 2), ("2d", 6, 2), ("2d", 2, 2), ("1d", 3, 1), ("1d", 1, 1), ("1d", 4, 1)]

    result = build_ensemble([r2.path, r1.path], spec)
    member_probs = [r.fold_test(k).probs for r, k in [(r2, 3), (r2, 1), (r2, 5), (r2, 6), (r2, 2),
                                                        (r1, 3), (r1, 1), (r1, 4)]]
    np.testing.assert_allclose(result.test.probs, rank_average(member_probs, [3, 3, 2, 2, 2, 1, 1, 1]), atol=1e-6)
    assert list(result.members.columns) == ["run", "fold", "val_acc", "weight"]
    # Side-by-side contenders: 12 single folds, 2 whole runs (mean of all their folds), the ensemble.
    contenders = result.contenders()
    assert len(contenders) == 7 + 5 + 2 + 1
    np.testing.assert_allclose(contenders["1d"].probs, np.mean([r1.fold_test(k).probs for k in range(5)], axis=0),
                               atol=1e-6)

    with pytest.raises(EnsembleError, match="only 5 completed folds"):
        select_members([r2, r1], EnsembleSpec("mean", {"1d": 6}))
    with pytest.raises(EnsembleError, match="no run named 'x'"):
        select_members([r2, r1], EnsembleSpec("mean", {"x": 1}))
    with pytest.raises(EnsembleError, match="2 weights for 12 members"):
        select_members([r2, r1], EnsembleSpec("mean", weights=(1, 2)))


def test_oof_is_per_run_concatenation_aligned_by_fname(tmp_path, data):
    rng, train, labels, test = data
    oof_a, oof_b = random_probs(rng, 40), random_probs(rng, 40)
    # Different splits: run a's folds are 0,1,0,1..., run b's are blocks - their OOF files list clips in other orders.
    a = make_run(tmp_path, "a", train, labels, np.arange(40) % 2, oof_a, test, np.stack([random_probs(rng, 12)] * 2),
                 [0.5, 0.6])
    b = make_run(tmp_path, "b", train, labels, np.arange(40) // 10, oof_b, test,
                 np.stack([random_probs(rng, 12) for _ in range(4)]), [0.5, 0.6, 0.7, 0.8])
    result = build_ensemble([a, b], EnsembleSpec("mean", weights=(1, 1, 1, 1, 1, 1)))
    oof = result.oof.align(train)
    # Run weights are the sums of their members' weights: a has 2 members, b has 4 -> 1/3 and 2/3.
    np.testing.assert_allclose(oof.probs, (oof_a + 2 * oof_b) / 3, atol=1e-6)
    np.testing.assert_allclose(result.run_oofs["b"].align(train).probs, oof_b)


def test_mismatched_classes_or_test_sets_are_refused_naming_the_runs(tmp_path, data):
    rng, train, labels, test = data
    args = (train, labels, np.arange(40) % 2, random_probs(rng, 40))
    tests = np.stack([random_probs(rng, 12)] * 2)
    a = make_run(tmp_path, "a", *args, test, tests, [0.5, 0.6])
    swapped = make_run(tmp_path, "swapped", *args, test, tests, [0.5, 0.6], classes=("b", "a", "c", "d"))
    other_test = make_run(tmp_path, "other", *args, np.char.add("x", test), tests, [0.5, 0.6])
    with pytest.raises(PredictionsError, match="runs 'a' and 'swapped' use different class orders"):
        build_ensemble([a, swapped], "mean")
    with pytest.raises(PredictionsError, match="runs 'a' and 'other' have test predictions for different clips"):
        build_ensemble([a, other_test], "rank")


# --- stacking ---------------------------------------------------------------------------------------------------
def _informative_and_noise(n=300, n_classes=10, seed=0):
    rng = np.random.default_rng(seed)
    classes = tuple(f"c{i}" for i in range(n_classes))
    fnames = np.array([f"clip{i:03d}" for i in range(n)])
    targets = np.arange(n) % n_classes
    logits = 1.5 * np.eye(n_classes)[targets] + rng.normal(size=(n, n_classes))
    good = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    noise = [rng.dirichlet(np.ones(n_classes), n) for _ in range(3)]
    labels = pd.Series(np.array(classes)[targets], index=fnames)
    make = lambda p, name: Predictions(fnames, p, classes, name)  # noqa: E731
    return make(good, "good"), [make(p, f"noise{i}") for i, p in enumerate(noise)], labels, targets


def test_stacking_oof_uses_inner_cv_and_noise_members_bring_no_gain():
    good, noise, labels, targets = _informative_and_noise()
    alone = stack([good], labels)
    with_noise = stack([good, *noise], labels)
    honest = accuracy(with_noise.oof.probs, targets)
    leaky = accuracy(with_noise.in_sample_oof.probs, targets)
    # 10 + 30 features for 300 clips: fitting and scoring on the same clips memorises the noise members...
    assert leaky > honest + 0.05
    # ...while the inner-CV score shows they add nothing over the informative member alone.
    assert honest <= accuracy(alone.oof.probs, targets) + 0.02
    # Pure noise alone stacks to chance level (1 in 10) when scored honestly.
    assert accuracy(stack(noise, labels).oof.probs, targets) < 0.2
    np.testing.assert_allclose(with_noise.oof.probs.sum(axis=1), 1.0, atol=1e-5)


def test_stacking_through_run_directories(tmp_path, data):
    rng, train, labels, test = data
    onehot = np.eye(4, dtype=np.float32)[[CLASSES.index(lab) for lab in labels]]
    oof = 0.6 * onehot + 0.4 * random_probs(rng, 40)
    run = make_run(tmp_path, "r", train, labels, np.arange(40) % 2, oof, test,
                   np.stack([random_probs(rng, 12), random_probs(rng, 12)]), [0.5, 0.6])
    result = build_ensemble([run], EnsembleSpec("stack"))
    assert result.test.probs.shape == (12, 4)
    np.testing.assert_allclose(result.test.probs.sum(axis=1), 1.0, atol=1e-5)
    assert accuracy(result.oof.align(train).probs, [CLASSES.index(lab) for lab in labels]) > 0.9
    assert set(result.oof_contenders()) == {"r", "ensemble (stack)", "ensemble (stack) (in-sample)"}


def test_cli_ensemble_scores_and_writes_a_submission(tmp_path, data, capsys):
    from audiotag.cli import main
    from audiotag.data.labels import LABELS

    rng, train, _, test = data
    labels = np.array(LABELS)[np.arange(40) % 41]
    usage = ["Public"] * 3 + ["Private"] * 8 + ["Ignored"]
    ds = tmp_path / "ds"
    for folder, names in (("audio_train", train), ("audio_test", test)):
        (ds / folder).mkdir(parents=True)
        for f in names:
            (ds / folder / f).touch()  # the loader checks that files exist; nothing here reads them
    pd.DataFrame({"fname": train, "label": labels, "manually_verified": 1}).to_csv(ds / "train.csv", index=False)
    pd.DataFrame({"fname": test, "label": list(labels[:11]) + ["None"], "usage": usage}).to_csv(
        ds / "test_post_competition.csv", index=False)
    runs = [make_run(tmp_path / "runs", name, train, labels, np.arange(40) % n, random_probs(rng, 40, 41), test,
                     np.stack([random_probs(rng, 12, 41) for _ in range(n)]), list(np.linspace(0.5, 0.7, n)),
                     classes=LABELS) for name, n in (("2d", 3), ("1d", 2))]
    out = tmp_path / "submission.csv"
    argv = ["ensemble", *(str(r.path) for r in runs), "--best", "2d=2,1d=1", "--weights", "2,2,1"]
    assert main(argv + ["--data", str(ds), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test set (11 scored clips: 3 public, 8 private)" in printed
    assert "ensemble (rank)" in printed and "2d/fold_2" in printed
    lines = out.read_text().splitlines()
    assert lines[0] == "fname,label" and len(lines) == 13
    assert all(len(line.split(",")[1].split(" ")) == 3 for line in lines[1:])

    assert main(argv[:-2] + ["--weights", "1,1"]) == 2
    assert "2 weights for 3 members" in capsys.readouterr().err
