"""The paper's learning-rate schedule and early stopping, as Keras defines them (section 3.3).

The paper trains with Keras' ``ReduceLROnPlateau(monitor="val_acc", factor=0.5, patience=3 or 4, min_lr=1e-6)`` and
``EarlyStopping(patience=10 or 24)`` and keeps the best weights. Keras counts epochs without a better validation
accuracy and acts when the count *reaches* the patience: with patience 3 the rate halves at the end of the third
epoch without improvement (then the count starts again), and with patience 10 training stops at the end of the
tenth. torch's ``ReduceLROnPlateau(patience=3)`` halves one epoch later (when the count *exceeds* 3), so it is not
used here. :class:`PlateauSchedule` is both callbacks in one small state machine that the fold loop steps once per
epoch; its state goes into the resume file.

Short budgets (the ``cpu`` profile) use a per-batch schedule instead of the plateau rule (:func:`batch_lr`):
``onecycle`` (Smith's one-cycle: the rate rises from ``lr / lr_div`` to ``lr`` over the first ``warmup_fraction``
of the steps and falls back to ``lr / lr_final_div``, both halves cosine-shaped, as torch's ``OneCycleLR``) or
``cosine`` (a linear warm-up, then a cosine decay). The plateau schedule then only keeps the best epoch and
decides early stopping.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

#: Learning-rate schedules: the paper's (Keras) plateau rule, and two per-batch schedules for short budgets.
LR_SCHEDULES = ("plateau", "onecycle", "cosine")


def batch_lr(schedule: str, step: int, total_steps: int, lr: float, warmup_fraction: float = 0.3,
             lr_div: float = 25.0, lr_final_div: float = 1e4) -> float:
    """The rate of batch ``step`` (0-based) of ``total_steps`` under a per-batch schedule (see the module).

    >>> [round(batch_lr("onecycle", s, 10, 1.0, 0.3, 10, 100), 3) for s in (0, 3, 9)]
    [0.1, 1.0, 0.01]
    """
    total_steps = max(2, int(total_steps))
    step = min(max(0, int(step)), total_steps - 1)
    warm = max(1, int(round(warmup_fraction * (total_steps - 1))))
    start, end = lr / lr_div, lr / lr_final_div
    if step <= warm:
        t = step / warm
        if schedule == "onecycle":
            return start + (lr - start) * 0.5 * (1 - math.cos(math.pi * t))
        if schedule == "cosine":
            return start + (lr - start) * t
    elif schedule in ("onecycle", "cosine"):
        t = (step - warm) / max(1, total_steps - 1 - warm)
        return end + (lr - end) * 0.5 * (1 + math.cos(math.pi * t))
    raise ValueError(f"unknown per-batch schedule {schedule!r}; use onecycle or cosine")


@dataclass
class EpochOutcome:
    """What :meth:`PlateauSchedule.step` decided after one epoch."""

    improved: bool        # a new best validation score: save these weights
    lr: float             # the learning rate for the next epoch
    stop: bool            # early stopping: no further epoch


@dataclass
class PlateauSchedule:
    """Keras' ReduceLROnPlateau + EarlyStopping on a score to maximise (validation accuracy).

    >>> s = PlateauSchedule(lr=1e-3, patience=2, stop_patience=3)
    >>> [(o.lr, o.stop) for o in map(s.step, [0.5, 0.4, 0.4, 0.4])]
    [(0.001, False), (0.001, False), (0.0005, False), (0.0005, True)]
    """

    lr: float = 1e-3
    factor: float = 0.5
    patience: int = 3          # epochs without improvement before the rate is multiplied by ``factor``
    min_lr: float = 1e-6
    stop_patience: int = 10    # epochs without improvement before training stops
    reduce_lr: bool = True     # False: only track the best epoch and early stopping (a per-batch schedule sets lr)
    best: float = float("-inf")
    best_epoch: int = 0        # 1-based epoch of the best score (0: none yet)
    epoch: int = 0             # epochs stepped so far
    wait_lr: int = 0           # epochs without improvement since the best or the last reduction
    wait_stop: int = 0         # epochs without improvement since the best

    def __post_init__(self):
        if not 0 < self.factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {self.factor}")
        if self.patience < 1 or self.stop_patience < 1:
            raise ValueError(f"patience and stop_patience must be >= 1, got {self.patience}, {self.stop_patience}")

    @property
    def stopped(self) -> bool:
        return self.wait_stop >= self.stop_patience

    def step(self, score: float) -> EpochOutcome:
        """Record one epoch's validation score and decide the next epoch's rate and whether to stop."""
        self.epoch += 1
        if score > self.best:
            self.best, self.best_epoch = float(score), self.epoch
            self.wait_lr = self.wait_stop = 0
            improved = True
        else:
            improved = False
            self.wait_lr += 1
            self.wait_stop += 1
            if self.reduce_lr and self.wait_lr >= self.patience:
                self.wait_lr = 0
                if self.lr > self.min_lr:            # as Keras: a rate already below the floor stays
                    self.lr = max(self.lr * self.factor, self.min_lr)
        return EpochOutcome(improved=improved, lr=self.lr, stop=self.stopped)

    def skip(self) -> None:
        """Count an epoch that was trained but not validated (``val_from_epoch``): no score, no decision."""
        self.epoch += 1

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, value)
