"""The clip bank: crops by gather equal the single-clip crops of ``audio``, and building it clip by clip into one
preallocated buffer gives the same bank as concatenating a list, also when the capacity bound is too small."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from audiotag.data.audio import center_crop
from audiotag.training.bank import ClipBank


def _clips(lengths, depth=None, seed=0):
    gen = torch.Generator().manual_seed(seed)
    shape = (1,) if depth is None else (1, depth)
    return [torch.randn(*shape, n, generator=gen) for n in lengths]


@pytest.mark.parametrize("depth", [None, 5])
def test_stream_build_equals_list_build(depth):
    items = _clips([7, 3, 12, 1, 9], depth)
    a = ClipBank(items)
    b = ClipBank.from_stream(iter(items), capacity=40)
    assert torch.equal(a.data, b.data) and torch.equal(a.lengths, b.lengths) and torch.equal(a.starts, b.starts)
    assert b.capacity == 40 and b.nbytes == 32 * (depth or 1) * 4          # the unused tail is not counted
    assert torch.equal(a.center_crops([0, 2, 3], 4), b.center_crops([0, 2, 3], 4))


def test_stream_build_grows_when_the_capacity_is_too_small():
    items = _clips([50, 60, 70])
    bank = ClipBank.from_stream(iter(items), capacity=10)
    assert torch.equal(bank.data, torch.cat([i.reshape(1, -1) for i in items], dim=1))


def test_stream_build_converts_dtype_in_place():
    items = _clips([4, 6])
    bank = ClipBank.from_stream(iter(items), capacity=10, dtype=torch.float16)
    assert bank.data.dtype == torch.float16
    torch.testing.assert_close(bank.data.float(), torch.cat([i.reshape(1, -1) for i in items], 1), atol=1e-2, rtol=1e-2)


def test_empty_and_mismatched_clips_are_refused():
    with pytest.raises(ValueError, match="at least one clip"):
        ClipBank.from_stream(iter([]), capacity=10)
    with pytest.raises(ValueError, match="clip 1: shape"):
        ClipBank.from_stream(iter([torch.zeros(1, 3, 4), torch.zeros(1, 2, 4)]), capacity=10)


def test_center_crop_matches_audio_center_crop_for_long_and_short_clips():
    waves = [np.arange(1, 11, dtype=np.float32), np.arange(1, 4, dtype=np.float32)]
    bank = ClipBank([torch.from_numpy(w)[None] for w in waves])
    crops = bank.center_crops([0, 1], 6)[:, 0].numpy()
    for wave, crop in zip(waves, crops):
        np.testing.assert_array_equal(crop, center_crop(wave, 6))


def test_trainer_sizes_the_bank_from_headers(tone_corpus):
    """The header-based capacity bounds the real bank from above, by at most a few units per clip."""
    from audiotag.data.datasets import load_dataset
    from audiotag.training.profiles import make_config
    from audiotag.training.trainer import _Engine

    paths = load_dataset(tone_corpus).train["path"].tolist()[:6]
    for model in ("conv1d", "inception2d"):
        engine = _Engine(make_config(model, None, "smoke", quiet=True), tuple(range(8)))
        bank = engine.load_bank(paths, "clips")
        used = int(bank.lengths.sum())
        assert used <= bank.capacity <= used + 3 * len(paths)
