"""Training-time data augmentation on batches: mixup, random erasing and SpecAugment masks.

The paper (section 2.1) applies mixup (Zhang et al., 2017) and random erasing (Zhong et al., 2017) to the
frequency-domain features and found both "effective to overcome overfitting"; SpecAugment's time/frequency masks
(Park et al., 2019) are an extra option. All three work on a whole batch with tensor operations on the batch's
device, so augmentation costs almost nothing next to the network.

Randomness comes from a ``torch.Generator``. The few random numbers (one box or mask per example, one mixing weight
per batch or example, one permutation) are drawn from the generator (a CPU generator by default, as in training)
and turned into boxes, masks and mixing weights on the CPU in float64; only the results (integer positions, boolean
masks, weights in the data's dtype) move to the data. So a seeded CPU generator gives the same augmentation whether
the batch lives on the CPU or a GPU, and no float64 tensor is ever made on a GPU: Apple's MPS has no float64 at
all. A generator on a GPU still works: it draws float32 (or integers) where it lives, and those come to the CPU.
Mixup's Beta draw uses numpy's Beta sampler seeded from the torch generator (torch's Beta takes no generator).

Layouts: features are (B, C, H, W) with H = frequency, W = time; waveforms are (B, 1, N) (mixup only). The erasing
and masking classes also take one example, (C, H, W) or (H, W), for interactive demonstrations.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

#: How erased or masked cells are filled: the example's per-channel mean, zeros, or uniform noise spanning the
#: example's per-channel value range (Zhong et al.'s random values).
FILL_VALUES = ("mean", "zero", "random")


@dataclass(frozen=True)
class AugmentConfig:
    """Settings of the training-time augmentation pipeline (:class:`Augmenter`). Zero probabilities switch a step off.

    ``mixup_alpha``: Beta(alpha, alpha) concentration of the mixing weight (0: no mixup; Zhang et al. recommend
    0.1-0.4 on ImageNet, the paper does not say). ``mixup_prob``: chance a batch (or, with ``mixup_per_sample``,
    an example) is mixed at all. ``erase_*``: Zhong et al.'s random erasing with their defaults (p 0.5, area 2-40%
    of the image, aspect ratio 0.3-3.3). ``freq_masks``/``time_masks``: number of SpecAugment masks of at most
    ``freq_width`` rows / ``time_width`` columns (0: off).
    """

    mixup_alpha: float = 0.2
    mixup_prob: float = 1.0
    mixup_per_sample: bool = False
    erase_prob: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.4)
    erase_aspect: tuple[float, float] = (0.3, 3.3)
    erase_value: str = "mean"
    freq_masks: int = 0
    freq_width: int = 30
    time_masks: int = 0
    time_width: int = 40
    mask_value: str = "mean"

    def __post_init__(self):
        for name in ("mixup_prob", "erase_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if self.mixup_alpha < 0:
            raise ValueError(f"mixup_alpha must be >= 0, got {self.mixup_alpha}")
        _check_range("erase_area", self.erase_area, upper=1.0)
        _check_range("erase_aspect", self.erase_aspect)
        for name in ("erase_value", "mask_value"):
            if getattr(self, name) not in FILL_VALUES:
                raise ValueError(f"{name} must be one of {FILL_VALUES}, got {getattr(self, name)!r}")
        for name in ("freq_masks", "freq_width", "time_masks", "time_width"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @classmethod
    def off(cls) -> "AugmentConfig":
        """No augmentation at all (evaluation, or a baseline run)."""
        return cls(mixup_alpha=0.0, erase_prob=0.0, freq_masks=0, time_masks=0)

    def replace(self, **changes) -> "AugmentConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "AugmentConfig":
        d = dict(d)
        for key in ("erase_area", "erase_aspect"):
            if key in d:
                d[key] = tuple(d[key])
        return cls(**d)


def _check_range(name: str, bounds, upper: float | None = None) -> None:
    lo, hi = bounds
    if not 0 < lo <= hi or (upper is not None and hi > upper):
        limit = f" <= {upper}" if upper is not None else ""
        raise ValueError(f"{name} must be (low, high) with 0 < low <= high{limit}, got {bounds}")


# ------------------------------------------------------------------------------------------------------- randomness
def _device_of(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _uniform(shape, generator: torch.Generator | None) -> Tensor:
    """U(0, 1) draws as a float64 tensor on the CPU, where the augmentation's parameters are computed.

    A CPU generator draws float64 directly; a generator on another device draws float32 there (MPS has no
    float64) and the draws come to the CPU."""
    device = _device_of(generator)
    if device.type == "cpu":
        return torch.rand(shape, generator=generator, dtype=torch.float64)
    return torch.rand(shape, generator=generator, device=device, dtype=torch.float32).cpu().double()


def _to_data(values: Tensor, like: Tensor) -> Tensor:
    """``values`` in the dtype and on the device of ``like``: converted first, then moved, so that a float64 CPU
    tensor reaches a GPU as float32 without a float64 copy on the GPU."""
    return values.to(dtype=like.dtype).to(device=like.device)


def _fill(x: Tensor, value: str, generator: torch.Generator | None) -> Tensor:
    """Fill values broadcastable to x (B, C, H, W): per-channel mean, zero, or uniform noise in the channel's range."""
    if value == "zero":
        return torch.zeros((), dtype=x.dtype, device=x.device)
    if value == "mean":
        return x.mean(dim=(-2, -1), keepdim=True)
    if value == "random":
        lo = x.amin(dim=(-2, -1), keepdim=True)
        hi = x.amax(dim=(-2, -1), keepdim=True)
        return lo + (hi - lo) * _to_data(_uniform(x.shape, generator), x)
    raise ValueError(f"unknown fill value {value!r}; use one of {FILL_VALUES}")


def _as_batch(x: Tensor) -> tuple[Tensor, int]:
    """View one example (H, W) or (C, H, W) as a batch (B, C, H, W); returns the view and the dims added."""
    if x.dim() not in (2, 3, 4):
        raise ValueError(f"expected (B, C, H, W), (C, H, W) or (H, W) features, got shape {tuple(x.shape)}")
    added = 4 - x.dim()
    return x.reshape((1,) * added + tuple(x.shape)), added


# ----------------------------------------------------------------------------------------------------------- mixup
def to_soft_targets(y: Tensor, n_classes: int | None = None, dtype=torch.float32) -> Tensor:
    """Targets as (B, n_classes) probabilities: class indices (B,) become one-hot, (B, K) targets are kept."""
    if y.dim() == 1:
        if n_classes is None:
            raise ValueError("class-index targets need n_classes to become one-hot")
        return torch.nn.functional.one_hot(y.long(), n_classes).to(dtype)
    if y.dim() != 2:
        raise ValueError(f"targets must be indices (B,) or probabilities (B, K), got shape {tuple(y.shape)}")
    return y.to(dtype)


def sample_mixup(batch: int, alpha: float, prob: float = 1.0, per_sample: bool = False,
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Draw mixup's parameters: weights ``lam`` (B,) float64 on the CPU and a partner permutation ``perm`` (B,) on the
    generator's device.

    Example ``i`` becomes ``lam[i] * x[i] + (1 - lam[i]) * x[perm[i]]``. ``lam ~ Beta(alpha, alpha)``, one value
    for the batch or one per example (``per_sample``); with probability ``1 - prob`` a batch (example) keeps
    ``lam = 1``. ``alpha = 0`` or ``prob = 0`` gives the identity (``lam = 1``, ``perm = arange``).
    """
    device = _device_of(generator)
    if alpha <= 0 or prob <= 0:
        return torch.ones(batch, dtype=torch.float64), torch.arange(batch, device=device)
    perm = torch.randperm(batch, generator=generator, device=device)
    n = batch if per_sample else 1
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator, device=device))
    lam = torch.as_tensor(np.random.default_rng(seed).beta(alpha, alpha, size=n))
    if prob < 1:
        lam = torch.where(_uniform(n, generator) < prob, lam, torch.ones_like(lam))
    return lam.expand(batch).clone(), perm


def apply_mixup(x: Tensor, y_soft: Tensor, lam: Tensor, perm: Tensor) -> tuple[Tensor, Tensor]:
    """Mix a batch with a permutation of itself: ``lam * x + (1 - lam) * x[perm]``, and the same for the targets."""
    perm = perm.to(x.device)
    lx = _to_data(lam, x).reshape((-1,) + (1,) * (x.dim() - 1))
    ly = _to_data(lam, y_soft).reshape(-1, 1)
    return lx * x + (1 - lx) * x[perm], ly * y_soft + (1 - ly) * y_soft[perm.to(y_soft.device)]


def mixup(x: Tensor, y: Tensor, alpha: float, generator: torch.Generator | None = None, n_classes: int | None = None,
          prob: float = 1.0, per_sample: bool = False) -> tuple[Tensor, Tensor]:
    """Mixup (Zhang et al.) of a batch: returns mixed inputs and soft targets (B, K) that still sum to 1.

    ``x``: waveforms (B, 1, N) or features (B, C, H, W); ``y``: one-hot/soft (B, K) or class indices (B,) with
    ``n_classes``. The network then learns the convex combination of two examples' labels from the same combination
    of their inputs, which smooths its decision boundaries.
    """
    y_soft = to_soft_targets(y, n_classes, dtype=x.dtype if x.is_floating_point() else torch.float32)
    lam, perm = sample_mixup(x.shape[0], alpha, prob, per_sample, generator)
    return apply_mixup(x, y_soft, lam, perm)


def mix_pair(x1: Tensor, x2: Tensor, y1: Tensor, y2: Tensor, lam: float) -> tuple[Tensor, Tensor]:
    """Mix two single examples with weight ``lam`` (for demonstrations): ``lam * x1 + (1 - lam) * x2``, same for y."""
    return lam * x1 + (1 - lam) * x2, lam * y1 + (1 - lam) * y2


# ------------------------------------------------------------------------------------------------- random erasing
class Boxes(NamedTuple):
    """One rectangle per example: ``erase`` (B,) bool says whether it is used; top/left/height/width (B,) int64."""

    erase: Tensor
    top: Tensor
    left: Tensor
    height: Tensor
    width: Tensor


def box_mask(boxes: Boxes, height: int, width: int, device=None) -> Tensor:
    """(B, 1, H, W) boolean mask that is True inside each used box."""
    rows = torch.arange(height, device=device).reshape(1, -1, 1)
    cols = torch.arange(width, device=device).reshape(1, 1, -1)
    top, left, h, w, erase = (t.to(device).reshape(-1, 1, 1) for t in
                              (boxes.top, boxes.left, boxes.height, boxes.width, boxes.erase))
    inside = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w) & erase
    return inside.unsqueeze(1)


class RandomErasing:
    """Random erasing (Zhong et al., 2017): with probability ``p`` a random rectangle of each example is overwritten.

    The rectangle covers a fraction ``area`` of the image (uniform in the range) with aspect ratio height/width
    uniform in ``aspect``; a draw that does not fit inside the image is retried, up to ``attempts`` times, and an
    example whose draws all fail is left intact (Zhong et al.'s Algorithm 1). The same rectangle is erased in every
    channel and filled with ``value`` (see :data:`FILL_VALUES`). Applied to a spectrogram image it hides a band of
    frequencies over a stretch of time, so the network must use the rest of the sound.
    """

    def __init__(self, p: float = 0.5, area: tuple[float, float] = (0.02, 0.4),
                 aspect: tuple[float, float] = (0.3, 3.3), value: str = "mean", attempts: int = 100):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"p must be a probability in [0, 1], got {p}")
        _check_range("area", area, upper=1.0)
        _check_range("aspect", aspect)
        if value not in FILL_VALUES:
            raise ValueError(f"value must be one of {FILL_VALUES}, got {value!r}")
        self.p, self.area, self.aspect, self.value, self.attempts = p, tuple(area), tuple(aspect), value, attempts

    def __repr__(self) -> str:
        return f"RandomErasing(p={self.p}, area={self.area}, aspect={self.aspect}, value={self.value!r})"

    def sample_boxes(self, batch: int, height: int, width: int,
                     generator: torch.Generator | None = None) -> Boxes:
        """Draw one rectangle per example (all attempts at once, the first that fits is kept)."""
        k = self.attempts
        u = _uniform((batch, k, 4), generator)
        area = height * width * (self.area[0] + (self.area[1] - self.area[0]) * u[..., 0])
        ratio = self.aspect[0] + (self.aspect[1] - self.aspect[0]) * u[..., 1]
        h = torch.sqrt(area * ratio).round().long()
        w = torch.sqrt(area / ratio).round().long()
        fits = (h >= 1) & (w >= 1) & (h < height) & (w < width)
        first = torch.where(fits.any(dim=1), fits.long().argmax(dim=1), 0)
        pick = first.unsqueeze(1)
        h, w = h.gather(1, pick)[:, 0], w.gather(1, pick)[:, 0]
        # Offsets uniform over the positions where the box fits: 0 .. height - h inclusive.
        top = (u[..., 2].gather(1, pick)[:, 0] * (height - h + 1)).floor().long().clamp(0, height - 1)
        left = (u[..., 3].gather(1, pick)[:, 0] * (width - w + 1)).floor().long().clamp(0, width - 1)
        erase = (_uniform(batch, generator) < self.p) & fits.any(dim=1)
        zero = torch.zeros_like(h)
        return Boxes(erase, torch.where(erase, top, zero), torch.where(erase, left, zero),
                     torch.where(erase, h, zero), torch.where(erase, w, zero))

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Erase (B, C, H, W) features (or one (C, H, W) / (H, W) example); returns a new tensor."""
        xb, added = _as_batch(x)
        if self.p == 0:
            return x.clone()
        boxes = self.sample_boxes(xb.shape[0], xb.shape[-2], xb.shape[-1], generator)
        mask = box_mask(boxes, xb.shape[-2], xb.shape[-1], device=xb.device)
        out = torch.where(mask, _fill(xb, self.value, generator), xb)
        return out.reshape(x.shape)


# ----------------------------------------------------------------------------------------------------- SpecAugment
class Masks(NamedTuple):
    """Frequency masks (rows) and time masks (columns): start and width (B, n_masks) int64."""

    freq_start: Tensor
    freq_width: Tensor
    time_start: Tensor
    time_width: Tensor


class SpecAugment:
    """SpecAugment's frequency and time masking (Park et al., 2019) on (B, C, H, W) features, H = frequency.

    Each example gets ``freq_masks`` bands of ``f`` consecutive rows, ``f`` uniform in ``0 .. freq_width``, and
    ``time_masks`` stripes of ``t`` consecutive columns, ``t`` uniform in ``0 .. time_width``, at uniform positions;
    widths are capped at the feature's size. Masked cells get ``value`` (see :data:`FILL_VALUES`).
    """

    def __init__(self, freq_masks: int = 2, freq_width: int = 30, time_masks: int = 2, time_width: int = 40,
                 value: str = "mean"):
        if min(freq_masks, freq_width, time_masks, time_width) < 0:
            raise ValueError("mask counts and widths must be >= 0")
        if value not in FILL_VALUES:
            raise ValueError(f"value must be one of {FILL_VALUES}, got {value!r}")
        self.freq_masks, self.freq_width = freq_masks, freq_width
        self.time_masks, self.time_width, self.value = time_masks, time_width, value

    def __repr__(self) -> str:
        return (f"SpecAugment(freq_masks={self.freq_masks}, freq_width={self.freq_width}, "
                f"time_masks={self.time_masks}, time_width={self.time_width}, value={self.value!r})")

    @staticmethod
    def _spans(batch: int, n: int, max_width: int, size: int, generator) -> tuple[Tensor, Tensor]:
        u = _uniform((batch, n, 2), generator)
        cap = min(max_width, size)
        width = (u[..., 0] * (cap + 1)).floor().long().clamp(0, cap)
        start = (u[..., 1] * (size - width + 1)).floor().long().clamp(0, size)
        return start, width

    def sample_masks(self, batch: int, height: int, width: int, generator: torch.Generator | None = None) -> Masks:
        """Draw every example's mask positions and widths."""
        fs, fw = self._spans(batch, self.freq_masks, self.freq_width, height, generator)
        ts, tw = self._spans(batch, self.time_masks, self.time_width, width, generator)
        return Masks(fs, fw, ts, tw)

    @staticmethod
    def mask_of(masks: Masks, height: int, width: int, device=None) -> Tensor:
        """(B, 1, H, W) boolean mask of the masked rows and columns."""
        rows = torch.arange(height, device=device).reshape(1, 1, -1)
        cols = torch.arange(width, device=device).reshape(1, 1, -1)
        fs, fw, ts, tw = (t.to(device).unsqueeze(-1) for t in masks)
        row_hit = ((rows >= fs) & (rows < fs + fw)).any(dim=1)  # (B, H)
        col_hit = ((cols >= ts) & (cols < ts + tw)).any(dim=1)  # (B, W)
        return (row_hit[:, :, None] | col_hit[:, None, :]).unsqueeze(1)

    def __call__(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Mask (B, C, H, W) features (or one (C, H, W) / (H, W) example); returns a new tensor."""
        xb, _ = _as_batch(x)
        if self.freq_masks == 0 and self.time_masks == 0:
            return x.clone()
        masks = self.sample_masks(xb.shape[0], xb.shape[-2], xb.shape[-1], generator)
        mask = self.mask_of(masks, xb.shape[-2], xb.shape[-1], device=xb.device)
        return torch.where(mask, _fill(xb, self.value, generator), xb).reshape(x.shape)


# ------------------------------------------------------------------------------------------------------- pipeline
class Augmenter:
    """The configured training-time pipeline: ``Augmenter(cfg)(x, y_soft, generator) -> (x, y_soft)``.

    Order: SpecAugment masks, then random erasing (both per example, 4-D features only), then mixup across the
    batch (features or waveforms), the order of a per-example transform followed by batch mixing. Call it on
    training batches only; evaluation uses the clean features.
    """

    def __init__(self, cfg: AugmentConfig | None = None):
        self.cfg = cfg or AugmentConfig()
        c = self.cfg
        self.specaugment = (SpecAugment(c.freq_masks, c.freq_width, c.time_masks, c.time_width, c.mask_value)
                            if c.freq_masks or c.time_masks else None)
        self.erasing = (RandomErasing(c.erase_prob, c.erase_area, c.erase_aspect, c.erase_value)
                        if c.erase_prob > 0 else None)

    def __repr__(self) -> str:
        return f"Augmenter({self.cfg})"

    @property
    def active(self) -> bool:
        """Whether any step can change a batch."""
        return bool(self.specaugment or self.erasing or (self.cfg.mixup_alpha > 0 and self.cfg.mixup_prob > 0))

    def __call__(self, x: Tensor, y_soft: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        if x.shape[0] != y_soft.shape[0]:
            raise ValueError(f"batch sizes differ: inputs {x.shape[0]}, targets {y_soft.shape[0]}")
        if x.dim() == 4:
            if self.specaugment is not None:
                x = self.specaugment(x, generator)
            if self.erasing is not None:
                x = self.erasing(x, generator)
        c = self.cfg
        if c.mixup_alpha > 0 and c.mixup_prob > 0:
            lam, perm = sample_mixup(x.shape[0], c.mixup_alpha, c.mixup_prob, c.mixup_per_sample, generator)
            x, y_soft = apply_mixup(x, y_soft, lam, perm)
        return x, y_soft
