"""Named training presets: ``paper``, ``cpu`` and ``smoke``, per network. The one place their numbers live.

``paper``
    The recipe of section 3.3 for FSDKaggle2018 on a GPU: 44.1 kHz, full-size inputs (3 s waveforms; 299 frames
    resized to 3 x 299 x 299), batch 128 / 16, lr-plateau patience 3 / 4, early stop 10 / 24, 5 / 7 folds.
``cpu``
    The book's default on the embedded synthetic dataset, sized so the whole book builds in about half an hour on a
    2-core laptop while the networks still learn visibly: the same architectures, with shorter crops, a lower rate
    for the raw-waveform net (16 kHz), smaller images (3 x 96 x 96), 3 folds, and a recipe made for short budgets
    (a one-cycle learning rate per batch over 16 / 20 epochs instead of the plateau rule, batches of 16, lighter
    augmentation for the 2D net, validation only in the last two epochs; the baseline on single patches).
``smoke``
    Seconds per run, for CI: a few clips per class, 2 folds, 8 short epochs, the smallest inputs the nets accept.

``make_config(model, feature, profile, **overrides)`` builds a :class:`~audiotag.training.config.TrainConfig`; any field can be
overridden, nested ones with a dotted key (``features.n_mels=64``, ``augment.mixup_alpha=0.4``). Changing
``crop_seconds`` also changes the evaluation crop unless ``inference.crop_seconds`` is given too.
"""
from __future__ import annotations

import dataclasses

from audiotag.features.augment import AugmentConfig
from audiotag.features.config import FEATURE_KINDS, FeatureConfig
from audiotag.training.config import InferenceConfig, TrainConfig
from audiotag.features.spectral import samples_for_frames
from audiotag.data.labels import SAMPLE_RATE
from audiotag.models import MODEL_NAMES, default_features

PROFILES = ("paper", "cpu", "smoke")

#: The paper's 2D crop: 299 STFT frames at hop 512 (about 3.47 s at 44.1 kHz).
PAPER_2D_CROP = samples_for_frames(299, 512) / SAMPLE_RATE

#: The paper's augmentation for the 2D net (mixup + random erasing on features; alpha is not stated in the paper).
PAPER_2D_AUGMENT = AugmentConfig(mixup_alpha=0.4, erase_prob=0.5)

#: The baseline's weights under ``cpu`` and ``smoke``: the released code's truncated normal, with std 0.03 instead of
#: 1e-3. From 1e-3 the logits start at about 1e-6 of the input and Adam spends its first few hundred steps growing
#: the weights (the baseline trained for 5 epochs of FSDKaggle2018's ~250,000 patches; the ``cpu`` profile has about
#: 500 steps). ``benchmarks/cpu_recipe.py`` measures it (fold 0, 10 epochs: validation MAP@3 0.34 -> 0.60).
CPU_BASELINE_INIT = {"init_std": 0.03}

#: The shortest crop that holds one baseline patch (25 frames of its 1102-sample window at hop 441: 11,686 samples).
BASELINE_PATCH_SECONDS = 0.27

#: The per-batch one-cycle rate of the ``smoke`` runs.
SMOKE_SCHEDULE = dict(lr=3e-3, lr_schedule="onecycle", lr_final_div=100.0)

_PRESETS: dict[str, dict[str, dict]] = {
    "paper": {
        "conv1d": dict(crop_seconds=3.0, batch_size=128, eval_batch_size=128, lr_patience=3, early_stop_patience=10,
                       n_folds=5, augment=AugmentConfig.off()),
        "inception2d": dict(crop_seconds=PAPER_2D_CROP, batch_size=16, eval_batch_size=64, lr_patience=4,
                            early_stop_patience=24, n_folds=7, augment=PAPER_2D_AUGMENT),
        # The released DCASE baseline: Adam at lr 1e-4, batches of 64 (models/baseline.py cites the code); the paper
        # reports 0.704 after its 5 epochs and 0.798 when trained longer, so early stopping decides here.
        "baseline": dict(crop_seconds=2.0, batch_size=64, eval_batch_size=128, lr=1e-4, lr_patience=3,
                         early_stop_patience=10, n_folds=5, augment=AugmentConfig.off()),
    },
    "cpu": {
        # Short budgets: a one-cycle rate per batch (one cycle over all epochs, no early stop), batches of 16,
        # validation only in the last two epochs (the one before the last on 2 windows per clip; the last one on every
        # window, which doubles as the fold's out-of-fold predictions); the 2D net with lighter augmentation and
        # more epochs than the 1D net. benchmarks/cpu_recipe.py measures what each change buys (fold 0, validation
        # MAP@3), and the book shows its table and curves.
        "conv1d": dict(features=dict(sample_rate=16000), crop_seconds=1.5, batch_size=16, eval_batch_size=64,
                       lr=2e-3, lr_schedule="onecycle", lr_final_div=1e3, max_epochs=16, early_stop_patience=16,
                       val_from_epoch=15, val_max_crops=2, n_folds=3,
                       augment=AugmentConfig(mixup_alpha=0.2, erase_prob=0.0)),
        "inception2d": dict(features=dict(image_size=96), crop_seconds=1.5, batch_size=16, eval_batch_size=64,
                            lr=1.5e-3, lr_schedule="onecycle", lr_final_div=1e3, max_epochs=20,
                            early_stop_patience=20, val_from_epoch=19, val_max_crops=2, n_folds=3,
                            augment=AugmentConfig(mixup_alpha=0.2, erase_prob=0.25)),
        # The baseline trained as released: on single 0.25 s patches, each labelled with its clip's label, batches
        # of 32 patches; a clip's score is the mean over the patches of 0.6 s windows (3 patches each). One patch
        # costs a third of a 0.6 s crop, so 20 epochs cost less than 10 did (30 epochs would add about 0.02
        # validation MAP@3). Its released init (std 1e-3) barely moves in a CPU budget: see CPU_BASELINE_INIT.
        "baseline": dict(crop_seconds=BASELINE_PATCH_SECONDS, batch_size=32, eval_batch_size=64, lr=3e-3,
                         lr_schedule="onecycle", lr_final_div=1e3, max_epochs=20, early_stop_patience=20,
                         val_from_epoch=19, val_max_crops=2, n_folds=3, model_kwargs=CPU_BASELINE_INIT,
                         inference=dict(crop_seconds=0.6), augment=AugmentConfig.off()),
    },
    "smoke": {
        # Eight epochs of a one-cycle rate on at most 4 clips per class: seconds per run, and enough to lift every
        # net above chance (the books' learned check under smoke; with 4 epochs the 1D net stayed at chance).
        "conv1d": dict(features=dict(sample_rate=8000), crop_seconds=0.5, batch_size=8, eval_batch_size=32,
                       max_epochs=8, n_folds=2, max_train_clips=164, **SMOKE_SCHEDULE,
                       inference=dict(max_crops=2), augment=AugmentConfig(mixup_alpha=0.2, erase_prob=0.0)),
        "inception2d": dict(features=dict(image_size=75, n_mels=64), crop_seconds=0.5, batch_size=8,
                            eval_batch_size=32, max_epochs=8, n_folds=2, max_train_clips=164, **SMOKE_SCHEDULE,
                            inference=dict(max_crops=2), augment=PAPER_2D_AUGMENT),
        "baseline": dict(crop_seconds=0.5, batch_size=8, eval_batch_size=32, max_epochs=8, n_folds=2,
                         max_train_clips=164, **SMOKE_SCHEDULE, model_kwargs=CPU_BASELINE_INIT,
                         inference=dict(max_crops=2), augment=AugmentConfig.off()),
    },
}


#: How each row of the crop-length (Table 3, 1D) and feature (Table 4, 2D) studies is trained. Every row uses the
#: main run's recipe; the row with the main run's own setting (its crop, its feature) IS the main run, read back on
#: the row's folds, never trained again (:func:`audiotag.evaluation.studies.reuses_main_run`). Under ``paper`` each
#: row is a full K-fold cross-validation with the profile's early stopping, as in the paper. Under ``cpu`` each other
#: row trains folds 0 and 1 (two folds, so the fold-to-fold spread stands beside each mean) with the main recipe and
#: its epochs: the book's first protocol (2 epochs) left the rows near chance, and a shorter one-cycle (10 / 12
#: epochs) reached only 84-91% of the main run's validation accuracy (measured in a full cpu build), so rows would
#: compare networks stopped at different points. Under ``smoke`` one fold of one epoch (CI checks that the tables
#: are built, not what they say). ``folds=None``: all the profile's folds; ``max_epochs=None``: the profile's (early
#: stopping decides); a dict gives each network its own.
STUDY_PROTOCOL: dict[str, dict] = {
    "paper": {"folds": None, "max_epochs": None},
    "cpu": {"folds": (0, 1), "max_epochs": None},
    "smoke": {"folds": (0,), "max_epochs": 1},
}

#: The share of the main run's validation accuracy (on the same folds) that a study's row with the main run's own
#: setting must reach when it is trained under another protocol than the main run's (``comparison_epochs``), so that
#: the table compares networks that learned, not networks stopped early (checked by the notebooks of chapters 3 and
#: 4; ``None``: not checked). A row that is the main run itself reaches 1 by construction.
STUDY_MIN_SHARE: dict[str, float | None] = {"paper": None, "cpu": 0.9, "smoke": None}


#: Table 3's crop lengths (seconds) per profile. ``paper``: the paper's 2-5 s. ``cpu`` and ``smoke``: lengths around
#: the cpu profile's 1.5 s crop, because the synthetic clips last 1.4 s (median): a 5 s crop of them is mostly
#: repeats, and it costs 3.3 times a 1.5 s one.
TABLE3_CROPS: dict[str, tuple[float, ...]] = {
    "paper": (2.0, 3.0, 4.0, 5.0),
    "cpu": (0.5, 1.0, 1.5, 2.0),
    "smoke": (0.5, 1.0),
}


#: The books' learned checks: the validation MAP@3 every fold of a main run must reach, by the kind of data the book
#: runs on (chance is about 0.045 with 41 classes). On the ``synthetic`` corpus, ``cpu`` and ``smoke`` sit just under
#: what a healthy build reaches, so a regression stops the build (a fresh-clone ``make book``: 1D folds 0.67-0.71, 2D
#: 0.71-0.76, baseline fold 0.68). On ``real`` recordings (FSDKaggle2018 or a per-class subset of it,
#: ``audiotag data download fsdkaggle2018 --per-class N``) ``paper`` sits under what the paper's recipe reaches on the
#: whole dataset; ``cpu`` is a floor for about 20 clips per class (a ``--per-class 20`` subset: some 550 training
#: clips per fold, as many as the synthetic corpus): real classes vary far more within themselves, and at 30 clips
#: per class of 10 real classes the ``cpu`` nets reached 0.71 (1D) and 0.83 (2D) out of fold against 0.18 by chance
#: (issue 21), so with 41 classes the check asks for about four (1D, baseline) and six (2D) times chance: a net that
#: learned nothing stops the book, one that learned what so few clips allow does not. ``smoke`` only asks for a net
#: above chance, on either kind.
LEARNED_MAP3: dict[str, dict[str, dict[str, float]]] = {
    "synthetic": {
        "conv1d": {"paper": 0.6, "cpu": 0.62, "smoke": 0.08},
        "inception2d": {"paper": 0.7, "cpu": 0.66, "smoke": 0.08},
        "baseline": {"paper": 0.5, "cpu": 0.62, "smoke": 0.08},
    },
    "real": {
        "conv1d": {"paper": 0.6, "cpu": 0.18, "smoke": 0.08},
        "inception2d": {"paper": 0.7, "cpu": 0.27, "smoke": 0.08},
        "baseline": {"paper": 0.5, "cpu": 0.18, "smoke": 0.08},
    },
}


def data_kind(dataset: str) -> str:
    """``synthetic`` for the generated corpus, ``real`` for any other dataset (``dataset``: how the book names it,
    :func:`audiotag.book.build.dataset_label`)."""
    return "synthetic" if dataset == "synthetic" else "real"


def learned_map3(model: str, profile: str, dataset: str = "synthetic") -> float:
    """The learned-check threshold of ``model``'s main run under ``profile`` on ``dataset`` (``synthetic`` or the
    name of a real one; see :data:`LEARNED_MAP3`)."""
    return LEARNED_MAP3[data_kind(dataset)][model][profile]


def study_settings(profile: str, folds=None, max_epochs: int | None = None, model: str | None = None) -> dict:
    """The overrides of one study row of ``model`` under ``profile`` (``folds`` / ``max_epochs`` replace the
    protocol's). ``model`` is needed where the protocol gives each network its own number of epochs (``cpu``)."""
    protocol = dict(STUDY_PROTOCOL[profile])
    if isinstance(protocol["max_epochs"], dict):
        if max_epochs is None and model not in protocol["max_epochs"]:
            raise ValueError(f"the {profile} study protocol gives each network its own epochs "
                             f"({protocol['max_epochs']}): pass model= one of them")
        protocol["max_epochs"] = protocol["max_epochs"].get(model)
    if folds is not None:
        protocol["folds"] = tuple(folds)
    if max_epochs is not None:
        protocol["max_epochs"] = int(max_epochs)
    return {k: (list(v) if k == "folds" else v) for k, v in protocol.items() if v is not None}


def describe_protocol(config: TrainConfig) -> str:
    """What a run trains, in words for a table header: ``5-fold CV, early stop 10 (<= 200 epochs)`` or
    ``folds 0, 1 of 3-fold CV, 8 epochs, one-cycle``."""
    folds = (f"{config.n_folds}-fold CV" if config.folds is None or len(config.folds) == config.n_folds
             else f"fold{'s' if len(config.folds) > 1 else ''} {', '.join(map(str, config.folds))} of "
                  f"{config.n_folds}-fold CV")
    if config.lr_schedule == "plateau" and config.early_stop_patience < config.max_epochs:
        budget = f"early stop {config.early_stop_patience} (<= {config.max_epochs} epochs)"
    else:
        budget = f"{config.max_epochs} epoch{'s' if config.max_epochs > 1 else ''}"
    schedule = {"plateau": "", "onecycle": ", one-cycle lr", "cosine": ", cosine lr"}[config.lr_schedule]
    return f"{folds}, {budget}{schedule}"


def make_config(model: str = "inception2d", feature: str | None = None, profile: str = "cpu",
                **overrides) -> TrainConfig:
    """The :class:`TrainConfig` of ``model`` (with input ``feature``, default: the model's own) under ``profile``.

    >>> make_config("inception2d", "mfcc", "paper").features.n_mfcc
    40
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    if model not in MODEL_NAMES:
        raise ValueError(f"unknown model {model!r}; choose one of {', '.join(MODEL_NAMES)}")
    preset = dict(_PRESETS[profile][model])
    features = default_features(model)
    if feature is not None:
        if feature not in FEATURE_KINDS:
            raise ValueError(f"unknown feature {feature!r}; choose one of {', '.join(FEATURE_KINDS)}")
        if (feature == "waveform") != (features.kind == "waveform"):
            raise ValueError(f"model {model!r} takes {'waveforms' if features.kind == 'waveform' else '2D features'}, "
                             f"not {feature!r}")
        features = features.replace(kind=feature)
    features = features.replace(**preset.pop("features", {}))
    inference = dict(preset.pop("inference", {}))

    nested = {"features": {}, "augment": {}, "inference": {}}
    flat = {}
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        if rest:
            if head not in nested:
                raise ValueError(f"unknown setting {key!r}: only features.*, augment.* and inference.* nest")
            nested[head][rest] = value
        else:
            flat[key] = value
    for key in ("features", "augment", "inference"):   # whole sub-configs given as dicts (papermill, JSON)
        if isinstance(flat.get(key), dict):
            nested[key].update(flat.pop(key))

    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(flat) - fields)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown}; valid: {sorted(fields)}")
    settings = {**preset, **flat}
    if isinstance(settings.get("model_kwargs"), dict):
        settings["model_kwargs"] = dict(settings["model_kwargs"])      # never the preset's own dict
    crop = float(settings.get("crop_seconds", TrainConfig.crop_seconds))
    features = _replace_checked(features, nested["features"], "features")
    augment = _replace_checked(settings.pop("augment", AugmentConfig()), nested["augment"], "augment")
    inference = _replace_checked(InferenceConfig(crop_seconds=crop), {**inference, **nested["inference"]},
                                 "inference")
    return TrainConfig(model=model, features=features, augment=augment, inference=inference, **settings)


def _replace_checked(obj, changes: dict, name: str):
    valid = {f.name for f in dataclasses.fields(obj)}
    unknown = sorted(set(changes) - valid)
    if unknown:
        raise ValueError(f"unknown {name} setting(s) {unknown}; valid: {sorted(valid)}")
    changes = {k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()}
    return dataclasses.replace(obj, **changes)


def describe_profiles() -> "pandas.DataFrame":  # noqa: F821
    """A table of the main settings of every profile and model (for the README and the book)."""
    import pandas as pd

    rows = []
    for profile in PROFILES:
        for model in MODEL_NAMES:
            c = make_config(model, None, profile)
            f = c.features
            size = "waveform" if f.kind == "waveform" else (f"{f.image_size}x{f.image_size}" if f.image_size
                                                            else "native")
            rows.append({"profile": profile, "model": model, "feature": f.kind, "rate": f.sample_rate,
                         "crop s": round(c.crop_seconds, 2), "eval crop s": round(c.inference.crop_seconds, 2),
                         "input": size, "batch": c.batch_size,
                         "folds": c.n_folds, "max epochs": c.max_epochs, "lr": c.lr, "lr schedule": c.lr_schedule,
                         "lr patience": c.lr_patience if c.lr_schedule == "plateau" else None,
                         "early stop": c.early_stop_patience if c.early_stop_patience < c.max_epochs else None,
                         "validated from epoch": c.val_from_epoch if c.val_from_epoch > 1 else None,
                         "mixup alpha": c.augment.mixup_alpha,
                         "erase p": c.augment.erase_prob,
                         "model settings": ", ".join(f"{k}={v}" for k, v in c.model_kwargs.items()) or None})
    return pd.DataFrame(rows)
