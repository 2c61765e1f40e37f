"""Training and evaluation settings: the evaluation policy over whole clips and one training run's recipe.

The named presets of these (``paper``, ``cpu``, ``smoke``) live in :mod:`audiotag.training.profiles`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from audiotag.features.augment import AugmentConfig
from audiotag.features.config import FeatureConfig
from audiotag.training.schedule import LR_SCHEDULES

#: How a clip longer or shorter than the model's crop is scored at evaluation and inference time.
INFERENCE_MODES = ("center", "windows")
#: What training does with the clips of a label-noise flag file (``TrainConfig.label_noise``).
LABEL_NOISE_MODES = ("none", "drop", "weight")


@dataclass(frozen=True)
class InferenceConfig:
    """The deterministic evaluation policy over a whole clip.

    ``center``: one crop of ``crop_seconds`` from the middle of the clip.
    ``windows`` (test-time augmentation): evenly spaced crops covering the whole clip, overlapping by at least half
    (``n_crops=None``) or exactly ``n_crops`` of them, at most ``max_crops``; class probabilities are averaged.
    Clips shorter than the crop are repeated (``short_clip="repeat"``) or zero-padded (``"pad"``).
    """

    crop_seconds: float = 3.5
    mode: str = "windows"
    n_crops: int | None = None
    max_crops: int = 8
    short_clip: str = "repeat"

    def __post_init__(self):
        if self.mode not in INFERENCE_MODES:
            raise ValueError(f"unknown inference mode {self.mode!r}; choose one of {INFERENCE_MODES}")


@dataclass(frozen=True)
class TrainConfig:
    """One training run: which network, its input, augmentation, the optimisation recipe and the CV protocol.

    The paper's recipe (section 3.3) is the ``paper`` profile in :mod:`audiotag.training.profiles`: Adam at lr 1e-3; the lr
    halves when validation accuracy has not improved for ``lr_patience`` epochs (1D: 3, 2D: 4), floor 1e-6; training
    stops after ``early_stop_patience`` epochs without improvement (1D: 10, 2D: 24); the best weights are kept
    (:mod:`audiotag.training.schedule`; ``lr_schedule="onecycle"`` or ``"cosine"`` replace the plateau rule by a
    per-batch schedule for short CPU budgets);
    mini-batches of 128 (1D) / 16 (2D); 5-fold (1D) / 7-fold (2D) stratified cross-validation.

    Training clips whose label is suspected wrong (a flag file, CSV with columns ``fname`` and optionally
    ``weight``, written by :func:`audiotag.evaluation.label_noise.flag_file`) are handled by ``label_noise``:
    ``none`` (default: the file, if any, is ignored), ``drop`` (flagged clips leave the training folds only: they are
    still validated and still get out-of-fold predictions, and the fold split is the unflagged run's), ``weight``
    (a flagged clip's loss is multiplied by its ``weight`` from the file, or by ``label_noise_weight`` where the file
    gives none; under mixup a mixed example's weight is the same convex combination as its label).
    ``verified_only`` keeps only the manually verified clips, before the split: the others are neither trained on
    nor validated.
    """

    model: str = "inception2d"
    model_kwargs: dict = field(default_factory=dict)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    augment: AugmentConfig = None  # type: ignore[assignment]  # filled in __post_init__
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    crop_seconds: float = 3.46          # training crop: 299 frames at hop 512 and 44.1 kHz
    n_folds: int = 7
    folds: tuple[int, ...] | None = None  # train only these folds (None: all)
    batch_size: int = 16
    eval_batch_size: int = 64
    lr: float = 1e-3
    lr_factor: float = 0.5
    lr_patience: int = 4
    min_lr: float = 1e-6
    early_stop_patience: int = 24
    max_epochs: int = 200
    lr_schedule: str = "plateau"       # plateau (the paper, Keras) | onecycle | cosine (per batch, short budgets)
    warmup_fraction: float = 0.3       # onecycle / cosine: share of the steps spent rising to ``lr``
    lr_div: float = 25.0               # onecycle / cosine: the rate starts at lr / lr_div ...
    lr_final_div: float = 1e4          # ... and ends at lr / lr_final_div
    val_from_epoch: int = 1            # validate from this epoch on (earlier epochs only train)
    val_max_crops: int | None = None   # windows per clip when validating before the last epoch (None: inference's;
                                       # the last epoch is scored as the out-of-fold predictions are)
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool = True
    compile: bool = False
    verified_only: bool = False
    label_noise: str = "none"          # none | drop | weight: what to do with the clips of label_noise_file
    label_noise_file: str | None = None  # CSV fname[,suspicion][,weight] of the flagged training clips
    label_noise_weight: float = 0.2    # weight: loss weight of a flagged clip the file gives no weight
    max_train_clips: int | None = None
    max_clip_seconds: float | None = 30.0
    quiet: bool = False

    def __post_init__(self):
        if self.augment is None:
            object.__setattr__(self, "augment", AugmentConfig())
        if self.folds is not None:
            object.__setattr__(self, "folds", tuple(int(k) for k in self.folds))
        for name in ("batch_size", "eval_batch_size", "max_epochs", "early_stop_patience", "n_folds"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.crop_seconds <= 0:
            raise ValueError(f"crop_seconds must be positive, got {self.crop_seconds}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r}; choose one of {LR_SCHEDULES}")
        if not 0 < self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in (0, 1), got {self.warmup_fraction}")
        if self.label_noise not in LABEL_NOISE_MODES:
            raise ValueError(f"unknown label_noise {self.label_noise!r}; choose one of {LABEL_NOISE_MODES}")
        if self.label_noise != "none" and not self.label_noise_file:
            raise ValueError(f"label_noise={self.label_noise!r} needs label_noise_file, the CSV of flagged clips "
                             "(audiotag.evaluation.label_noise.flag_file writes one)")
        if self.label_noise_file is not None:
            object.__setattr__(self, "label_noise_file", str(self.label_noise_file))
        if not 0.0 <= self.label_noise_weight <= 1.0:
            raise ValueError(f"label_noise_weight must be in [0, 1], got {self.label_noise_weight}")
        object.__setattr__(self, "label_noise_weight", float(self.label_noise_weight))

    def replace(self, **changes) -> "TrainConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["folds"] = list(self.folds) if self.folds is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = {k: v for k, v in d.items() if k in {f.name for f in dataclasses.fields(cls)}}
        d["features"] = FeatureConfig.from_dict(d.get("features", {}))
        d["augment"] = AugmentConfig.from_dict(d.get("augment", {}))
        d["inference"] = InferenceConfig(**d.get("inference", {}))
        return cls(**d)

