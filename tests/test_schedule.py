"""The paper's (Keras') plateau schedule and early stopping, driven by scripted validation accuracies, and the resume
file restored onto a non-CPU map location."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from audiotag.training.checkpoint import load_checkpoint
from audiotag.training.profiles import make_config
from audiotag.training.schedule import PlateauSchedule
from audiotag.training.trainer import restore_training_state, save_training_state, train


def _drive(schedule, scores):
    lrs, stop_at = [], None
    for epoch, score in enumerate(scores, 1):
        lrs.append(schedule.lr)                      # the rate epoch `epoch` trained with
        if schedule.step(score).stop:
            stop_at = epoch
            break
    return lrs, stop_at


def test_rate_halves_after_exactly_patience_epochs_without_improvement():
    # best at epoch 2; epochs 3, 4, 5 are not better: the rate halves at the end of epoch 5 (Keras), so epoch 6
    # trains at half the rate (torch's ReduceLROnPlateau(patience=3) would wait until the end of epoch 6)
    s = PlateauSchedule(lr=1e-3, patience=3, stop_patience=10)
    lrs, stop = _drive(s, [0.1, 0.5, 0.5, 0.4, 0.3, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2])
    assert lrs[:6] == [1e-3] * 5 + [5e-4]
    assert lrs[5:8] == [5e-4] * 3 and lrs[8] == 2.5e-4      # second halving 3 epochs after the first
    assert stop == 12 and s.best_epoch == 2                  # 10 epochs without improvement after epoch 2


def test_improvement_resets_both_counters_and_equal_is_not_better():
    s = PlateauSchedule(lr=1e-3, patience=2, stop_patience=3)
    lrs, stop = _drive(s, [0.3, 0.3, 0.4, 0.4, 0.4, 0.4])
    assert lrs == [1e-3] * 5 + [5e-4]                       # halved at the end of epoch 5 (2 epochs after the best)
    assert stop == 6 and s.best_epoch == 3                   # 3 epochs without a better score after epoch 3
    assert s.best == 0.4


def test_rate_never_goes_below_the_floor():
    s = PlateauSchedule(lr=4e-6, factor=0.5, patience=1, min_lr=1e-6, stop_patience=100)
    _drive(s, [0.5] + [0.1] * 6)
    assert s.lr == 1e-6


def test_paper_2d_recipe_halves_after_4_and_stops_after_24():
    cfg = make_config("inception2d", None, "paper")
    s = PlateauSchedule(lr=cfg.lr, factor=cfg.lr_factor, patience=cfg.lr_patience, min_lr=cfg.min_lr,
                        stop_patience=cfg.early_stop_patience)
    lrs, stop = _drive(s, [0.9] + [0.1] * 40)
    halvings = [e for e in range(1, len(lrs)) if lrs[e] < lrs[e - 1]]
    assert [h + 1 for h in halvings] == [6, 10, 14, 18, 22]   # epochs (1-based) that first train at the lower rate
    assert stop == 25 and s.best_epoch == 1


def test_state_round_trip():
    a = PlateauSchedule(lr=1e-3, patience=2, stop_patience=5)
    _drive(a, [0.2, 0.1, 0.1, 0.1])
    b = PlateauSchedule()
    b.load_state_dict(a.state_dict())
    assert b == a


def test_training_keeps_and_restores_the_best_weights(tone_corpus, tmp_path, monkeypatch):
    """A fold driven by a scripted validation accuracy: halvings at the Keras epochs, the stop epoch, and the OOF and
    test predictions come from the best epoch's weights."""
    script = iter([0.2, 0.6, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3])
    step = PlateauSchedule.step
    monkeypatch.setattr(PlateauSchedule, "step", lambda self, score: step(self, next(script)))
    config = make_config("conv1d", None, "smoke", quiet=True, folds=[0], max_epochs=20, lr_schedule="plateau",
                         lr=1e-3, lr_patience=2, early_stop_patience=5, precision="fp32")
    run = train(config, tone_corpus, tmp_path / "r")
    hist = run.history(0)
    assert hist["lr"].tolist() == [1e-3, 1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]   # halved after epochs 4 and 6
    result = run.fold_results().iloc[0]
    assert result["epochs_run"] == 7 and result["best_epoch"] == 2
    ckpt = load_checkpoint(run.checkpoint_path(0))
    assert ckpt.info["epoch"] == 2
    from audiotag.data.audio import load_audio
    from audiotag.inference.predictor import Predictor
    predictor = Predictor.from_checkpoint(run.checkpoint_path(0), device="cpu", precision="fp32")
    test = run.fold_test(0)
    fnames = list(test.fnames[:4])
    waves = [load_audio(tone_corpus / "audio_test" / f, predictor.sample_rate) for f in fnames]
    np.testing.assert_allclose(predictor.predict_waves(waves), test.align(fnames).probs, atol=1e-5)


@pytest.mark.filterwarnings("ignore:.*meta parameter")
def test_resume_state_restores_onto_a_non_cpu_map_location(tmp_path):
    """A resume file of a fold trained on a non-CPU device restores onto that device: random states stay CPU byte
    tensors (what Generator.set_state needs) while weights follow the model. Here the model sits on the meta device,
    the only non-CPU device every machine has (the file records it as the fold's device: a fold continues only on
    the device type it started on, tests/test_gpu_path.py); loading the file with map_location=<that device> and
    calling Generator.set_state on its contents (the old code) fails."""
    from audiotag.models import build_model

    model = build_model("conv1d", n_classes=4)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(2, 1, 8000)).sum().backward()
    opt.step()
    sched = PlateauSchedule(lr=1e-3, patience=2)
    sched.step(0.5)
    gens = (torch.Generator().manual_seed(1), torch.Generator().manual_seed(2))
    torch.rand(3, generator=gens[0])
    path = tmp_path / "state.pt"
    save_training_state(path, model, opt, sched, gens, [{"epoch": 1}], device="meta")
    expected = [g.get_state().clone() for g in gens]

    meta_model = build_model("conv1d", n_classes=4).to("meta")
    meta_opt = torch.optim.Adam(meta_model.parameters(), lr=1e-3)
    fresh_sched = PlateauSchedule()
    fresh = (torch.Generator().manual_seed(7), torch.Generator().manual_seed(8))
    history = restore_training_state(path, meta_model, meta_opt, fresh_sched, fresh, device="meta")
    assert history == [{"epoch": 1}] and fresh_sched == sched
    for g, state in zip(fresh, expected):
        assert torch.equal(g.get_state(), state)
    assert meta_opt.state_dict()["state"][0]["exp_avg"].device.type == "meta"
    with pytest.raises(TypeError, match="ByteTensor"):   # what the old resume did: map_location=device, then set_state
        torch.Generator().set_state(torch.load(path, map_location="meta", weights_only=False)["rng"]["generators"][0])


def test_per_batch_schedules_rise_then_fall():
    from audiotag.training.schedule import batch_lr

    for name in ("onecycle", "cosine"):
        rates = [batch_lr(name, s, 100, 3e-3, 0.3, 25, 1e4) for s in range(100)]
        peak = int(np.argmax(rates))
        assert rates[0] == pytest.approx(3e-3 / 25) and rates[peak] == pytest.approx(3e-3) and 28 <= peak <= 31
        assert rates[-1] == pytest.approx(3e-3 / 1e4)
        assert all(a <= b for a, b in zip(rates[:peak], rates[1:peak + 1]))        # rises ...
        assert all(a >= b for a, b in zip(rates[peak:], rates[peak + 1:]))        # ... then falls
    with pytest.raises(ValueError, match="unknown per-batch schedule"):
        batch_lr("plateau", 0, 10, 1e-3)


def test_onecycle_training_skips_early_validation_and_keeps_the_best(tone_corpus, tmp_path):
    config = make_config("conv1d", None, "smoke", quiet=True, folds=[0], max_epochs=4, lr_schedule="onecycle",
                         val_from_epoch=3, val_max_crops=1, precision="fp32")
    run = train(config, tone_corpus, tmp_path / "r")
    hist = run.history(0)
    assert hist["val_acc"].isna().tolist() == [True, True, False, False]     # validated from epoch 3 on
    assert hist["lr"].iloc[0] < hist["lr"].max() and hist["lr"].iloc[-1] < hist["lr"].max()
    result = run.fold_results().iloc[0]
    assert result["best_epoch"] in (3, 4) and result["epochs_run"] == 4
    with pytest.raises(ValueError, match="unknown lr_schedule"):
        make_config("conv1d", None, "smoke", lr_schedule="steps")


def test_the_last_epochs_validation_is_the_folds_out_of_fold_prediction(tone_corpus, tmp_path):
    """Validated with every window, the last epoch's scores are the fold's; when it is the best epoch its
    predictions are reused as the out-of-fold ones, equal to scoring the saved checkpoint again."""
    from audiotag.data.datasets import load_dataset
    from audiotag.training.pipeline import InputPipeline
    from audiotag.training.trainer import _Engine
    from audiotag.training.validation import predict_bank

    config = make_config("conv1d", None, "smoke", quiet=True, folds=[0], max_epochs=2, val_from_epoch=2,
                         val_max_crops=1, precision="fp32", inference=dict(max_crops=3))
    run = train(config, tone_corpus, tmp_path / "r")
    result, last = run.fold_results().iloc[0], run.history(0).iloc[-1]
    assert result["best_epoch"] == 2
    assert result["val_map3"] == pytest.approx(last["val_map3"]) and result["val_acc"] == pytest.approx(
        last["val_acc"])
    oof = run.fold_oof(0)
    dataset = load_dataset(tone_corpus)
    engine = _Engine(config, tuple(dataset.classes))
    index = {f: i for i, f in enumerate(dataset.train["fname"])}
    bank = engine.load_bank(dataset.train["path"].tolist(), "training clips")
    model = load_checkpoint(run.checkpoint_path(0)).build_model("cpu")
    again = predict_bank(model, bank, InputPipeline(config.features, torch.device("cpu")), config.inference,
                         [index[f] for f in oof.fnames], batch_size=config.eval_batch_size)
    np.testing.assert_allclose(oof.probs, again, rtol=1e-5, atol=1e-6)


def test_study_protocol_follows_the_paper_under_paper_and_says_what_ran():
    from audiotag.training.profiles import describe_protocol, study_settings

    assert study_settings("paper") == {}                          # all folds, the profile's early stopping
    paper = make_config("conv1d", None, "paper", **study_settings("paper"))
    assert describe_protocol(paper) == "5-fold CV, early stop 10 (<= 200 epochs)"
    cpu = make_config("inception2d", None, "cpu", lr_schedule="onecycle",
                      **study_settings("cpu", folds=[0, 2], max_epochs=5))
    assert cpu.folds == (0, 2) and cpu.max_epochs == 5
    assert describe_protocol(cpu) == "folds 0, 2 of 3-fold CV, 5 epochs, one-cycle lr"
    assert describe_protocol(make_config("conv1d", None, "smoke", **study_settings("smoke"))) == \
        "fold 0 of 2-fold CV, 1 epoch, one-cycle lr"


def test_cpu_study_rows_train_two_folds_with_the_main_recipe():
    from audiotag.training.profiles import describe_protocol, study_settings

    one_d = make_config("conv1d", None, "cpu", **study_settings("cpu", model="conv1d"))
    two_d = make_config("inception2d", "mfcc", "cpu", **study_settings("cpu", model="inception2d"))
    assert describe_protocol(one_d) == "folds 0, 1 of 3-fold CV, 16 epochs, one-cycle lr"
    assert describe_protocol(two_d) == "folds 0, 1 of 3-fold CV, 20 epochs, one-cycle lr"
    # every other setting is the main run's: the row with the main run's crop is the main run on those folds
    main = make_config("conv1d", None, "cpu")
    assert {k: v for k, v in vars(one_d).items() if k != "folds"} == {k: v for k, v in vars(main).items()
                                                                       if k != "folds"}
    assert study_settings("cpu", max_epochs=3) == {"folds": [0, 1], "max_epochs": 3}


def test_the_profiles_table_shows_what_each_preset_changes():
    import pandas as pd

    from audiotag.training.profiles import describe_profiles

    table = describe_profiles().set_index(["profile", "model"])
    base = table.loc[("cpu", "baseline")]
    assert base["crop s"] == 0.27 and base["eval crop s"] == 0.6 and base["model settings"] == "init_std=0.03"
    assert table.loc[("cpu", "inception2d"), "validated from epoch"] == 19
    assert table.loc[("paper", "conv1d"), "early stop"] == 10
    assert pd.isna(table.loc[("paper", "conv1d"), "model settings"])
