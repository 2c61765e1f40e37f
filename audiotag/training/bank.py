"""A clip bank: whole clips held in one tensor on the training device, cropped by a single gather.

Every clip's representation (a waveform, or a full-clip feature of shape ``C x F x T``) is concatenated along its
last (time) axis into one tensor ``(D, total)``. A batch of crops is then one ``index_select`` with a
``(B, n)`` index tensor built on the device: random offsets for training, the centre or evenly spaced windows for
evaluation. Nothing goes back to the CPU, so on a GPU the data pipeline never waits for Python or the disk.

Clips shorter than a crop are repeated (index modulo the clip length) or zero-padded, as ``audio.fit_length`` does
for single waveforms, so a clip scores the same through the bank and through ``audio.center_crop``.

:func:`bank_dtype` decides what a bank stores on a device, for every bank (training, validation, ``audiotag
predict``, the book's evaluations), so that a network always sees the same inputs when it is trained, validated
and used.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np
import torch

from audiotag.data.audio import SHORT_CLIP_POLICIES


def bank_dtype(device: torch.device | str) -> torch.dtype:
    """What a clip bank stores on ``device``: float16 on CUDA, float32 elsewhere.

    A GPU holds the whole training set: FSDKaggle2018's 9,473 clips at 44.1 kHz are about 11 GB of float32
    waveforms, so CUDA banks keep half of that (float16 keeps 11 significant bits, far below a recording's noise).
    Crops become float32 when they leave the bank (``InputPipeline.model_input``). Every bank of a device uses this,
    so validation scores and ``audiotag predict`` see the very inputs training saw.
    """
    return torch.float16 if torch.device(device).type == "cuda" else torch.float32


@dataclass
class Windows:
    """Evaluation crops: ``data`` (n_windows, ...) and ``owner`` (n_windows,) = the clip each window came from."""

    data: torch.Tensor
    owner: torch.Tensor


class ClipBank:
    def __init__(self, items: list[torch.Tensor], device: torch.device | str = "cpu",
                 dtype: torch.dtype | None = None, short_clip: str = "repeat"):
        """``items``: per clip a tensor of shape ``(*item_shape, length)``; all share ``item_shape``. ``dtype``:
        what the bank stores, by default :func:`bank_dtype` of ``device``."""
        self._take(_fill(items, sum(int(item.shape[-1]) for item in items), device, dtype, short_clip))

    @classmethod
    def from_stream(cls, items: Iterable[torch.Tensor], capacity: int, device: torch.device | str = "cpu",
                    dtype: torch.dtype | None = None, short_clip: str = "repeat") -> "ClipBank":
        """A bank filled clip by clip from ``items`` (a generator: only one clip exists outside the bank at a time)
        into one buffer of ``capacity`` bank units (an upper bound of the total length, e.g. from the files'
        headers). Peak memory is the bank itself plus one clip, so a 9,473-clip FSDKaggle2018 bank fits the card it
        is meant for; a capacity too small still works, at the cost of a larger buffer and one copy."""
        bank = cls.__new__(cls)
        bank._take(_fill(items, capacity, device, dtype, short_clip))
        return bank

    def _take(self, filler: "BankFiller") -> None:
        self.item_shape = filler.item_shape
        self.device = filler.device
        self.short_clip = filler.short_clip
        lengths = torch.tensor(filler.lengths, dtype=torch.long)
        self.lengths = lengths.to(self.device)
        self.starts = (torch.cumsum(lengths, 0) - lengths).to(self.device)
        self.data = filler.data[:, :filler.used]       # a view: the unused tail of the buffer is never touched
        self.capacity = filler.data.shape[1]

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def nbytes(self) -> int:
        """Bytes of the clips held (the buffer's unused tail, if any, is ``capacity`` minus this)."""
        return self.data.element_size() * self.data.numel()

    # --- crops -------------------------------------------------------------------------------------------------
    def _gather(self, clips: torch.Tensor, offsets: torch.Tensor, n: int) -> torch.Tensor:
        """Crops of length ``n`` starting at ``offsets`` within ``clips``; wraps (repeat) or pads short clips."""
        lengths = self.lengths[clips]
        steps = torch.arange(n, device=self.device)
        pos = offsets[:, None] + steps[None, :]
        inside = pos < lengths[:, None]
        if self.short_clip == "repeat":
            pos = pos % lengths[:, None]
        else:
            pos = torch.minimum(pos, lengths[:, None] - 1)
        index = (self.starts[clips][:, None] + pos).reshape(-1)
        out = self.data.index_select(1, index).view(-1, len(clips), n).permute(1, 0, 2)
        if self.short_clip == "pad":
            out = out * inside[:, None, :].to(out.dtype)
        return out.reshape(len(clips), *self.item_shape, n)

    def random_crops(self, clips, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """One crop of length ``n`` per clip at a uniformly random offset (short clips: a random rotation)."""
        clips = torch.as_tensor(clips, dtype=torch.long, device=self.device)
        lengths = self.lengths[clips]
        span = torch.where(lengths >= n, lengths - n + 1, lengths if self.short_clip == "repeat" else 1)
        u = torch.rand(len(clips), generator=generator, device=generator.device if generator else self.device)
        offsets = (u.to(self.device) * span).long().clamp_max(span - 1)
        return self._gather(clips, offsets, n)

    def center_crops(self, clips, n: int) -> torch.Tensor:
        """The middle ``n`` of each clip (a short clip starts at 0 and repeats or pads)."""
        clips = torch.as_tensor(clips, dtype=torch.long, device=self.device)
        offsets = torch.clamp(self.lengths[clips] - n, min=0) // 2
        return self._gather(clips, offsets, n)

    def window_crops(self, clips, n: int, n_crops: int | None = None, max_crops: int = 8) -> Windows:
        """Evenly spaced windows covering each clip, overlapping by at least half (``n_crops=None``), as
        ``audio.window_crops`` does; at most ``max_crops`` per clip."""
        clips = torch.as_tensor(clips, dtype=torch.long, device=self.device)
        lengths = torch.clamp(self.lengths[clips], min=n).cpu().numpy()
        owner, offsets = [], []
        for i, length in enumerate(lengths):
            k = n_crops if n_crops is not None else max(1, -(-2 * int(length) // n) - 1)
            k = max(1, min(k, max_crops))
            starts = np.linspace(0, int(length) - n, k).round().astype(np.int64)
            owner.extend([i] * k)
            offsets.extend(starts.tolist())
        owner_t = torch.tensor(owner, dtype=torch.long, device=self.device)
        offsets_t = torch.tensor(offsets, dtype=torch.long, device=self.device)
        return Windows(self._gather(clips[owner_t], offsets_t, n), owner_t)


class BankFiller:
    """One preallocated ``(depth, capacity)`` buffer on the bank's device, filled clip after clip.

    Each :meth:`add` converts a clip (any device, any float dtype) straight into its place, so the transient cost
    of building a bank is one clip, not a second copy of the whole bank. An item longer than the remaining capacity
    grows the buffer (a copy, counted in the peak): give an upper bound as capacity to avoid it.
    """

    def __init__(self, item_shape: tuple[int, ...], capacity: int, device, dtype: torch.dtype | None,
                 short_clip: str):
        if short_clip not in SHORT_CLIP_POLICIES:
            raise ValueError(f"unknown short-clip policy {short_clip!r}")
        self.item_shape = tuple(item_shape)
        self.depth = int(np.prod(self.item_shape)) if self.item_shape else 1
        self.device = torch.device(device)
        dtype = bank_dtype(self.device) if dtype is None else dtype
        self.short_clip = short_clip
        self.data = torch.empty((self.depth, max(1, int(capacity))), dtype=dtype, device=self.device)
        self.lengths: list[int] = []
        self.used = 0

    def add(self, item: torch.Tensor) -> None:
        i = len(self.lengths)
        if tuple(item.shape[:-1]) != self.item_shape or item.shape[-1] == 0:
            raise ValueError(f"clip {i}: shape {tuple(item.shape)} does not fit {self.item_shape} x length>0")
        n = int(item.shape[-1])
        if self.used + n > self.data.shape[1]:
            grown = torch.empty((self.depth, max(self.used + n, int(self.data.shape[1] * 1.25))),
                                dtype=self.data.dtype, device=self.device)
            grown[:, :self.used].copy_(self.data[:, :self.used])
            self.data = grown
        self.data[:, self.used:self.used + n].copy_(item.reshape(self.depth, n))
        self.used += n
        self.lengths.append(n)


def _fill(items: Iterable[torch.Tensor], capacity: int, device, dtype: torch.dtype | None,
          short_clip: str) -> BankFiller:
    """A :class:`BankFiller` sized ``capacity`` holding ``items`` (their shape comes from the first one)."""
    items = iter(items)
    first = next(items, None)
    if first is None:
        raise ValueError("a clip bank needs at least one clip")
    filler = BankFiller(tuple(first.shape[:-1]), capacity, device, dtype, short_clip)
    filler.add(first)
    del first                 # a stream's clip lives on in the buffer only
    for item in items:
        filler.add(item)
    return filler


def average_windows(scores: torch.Tensor, owner: torch.Tensor, n_clips: int) -> torch.Tensor:
    """Mean of per-window scores ``(n_windows, C)`` for each clip ``(n_clips, C)``.

    A clip's windows are summed one after the other, in their order in ``scores``. On the CPU ``index_add_`` does
    exactly that. On a GPU it adds with atomics, in whatever order the threads happen to run, so a clip's
    probabilities could differ in their last bits from one run to the next; there the windows are added in rounds,
    the first window of every clip, then the second, ..., each round an ``index_add_`` with distinct targets: no
    two additions race, and the sums are the CPU's.
    """
    total = torch.zeros(n_clips, scores.shape[1], dtype=scores.dtype, device=scores.device)
    if scores.device.type == "cpu":
        total.index_add_(0, owner, scores)
    else:
        add_in_rounds(total, owner, scores)
    count = torch.bincount(owner, minlength=n_clips).clamp_min(1).to(scores.dtype)
    return total / count[:, None]


def add_in_rounds(total: torch.Tensor, owner: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """``total.index_add_(0, owner, scores)`` without two additions to one row at the same time: round ``r`` adds
    the ``r``-th window of every clip. Deterministic on any device, and the same sums as the CPU's ``index_add_``."""
    rank = window_rank(owner, total.shape[0])
    for r in range(int(rank.max()) + 1 if len(rank) else 0):
        pick = torch.nonzero(rank == r).flatten()
        total.index_add_(0, owner[pick], scores[pick])
    return total


def window_rank(owner: torch.Tensor, n_clips: int) -> torch.Tensor:
    """For each window, how many windows of the same clip come before it in ``owner`` (0 for a clip's first)."""
    order = torch.argsort(owner, stable=True)
    counts = torch.bincount(owner, minlength=n_clips)
    first = torch.cumsum(counts, 0) - counts                  # where each clip's windows start in sorted order
    rank = torch.empty_like(owner)
    rank[order] = torch.arange(len(owner), device=owner.device) - first[owner[order]]
    return rank
