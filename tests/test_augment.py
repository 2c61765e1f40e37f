import json

import pytest
import torch

from audiotag.features.augment import (AugmentConfig, Augmenter, RandomErasing, SpecAugment, apply_mixup, box_mask,
                                       mix_pair, mixup, sample_mixup, to_soft_targets)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def batch(b=8, shape=(3, 40, 60), seed=1):
    return torch.rand(b, *shape, generator=gen(seed)) + 1.0  # strictly positive: zero marks erased cells


# ----------------------------------------------------------------------------------------------------------- mixup
@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("shape", [(1, 1000), (3, 20, 30)])
def test_mixup_is_the_convex_combination_of_the_drawn_pairs(shape, per_sample):
    x = torch.randn(6, *shape, generator=gen(2))
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    lam, perm = sample_mixup(6, alpha=0.4, per_sample=per_sample, generator=gen(5))
    xm, ym = mixup(x, y, alpha=0.4, n_classes=5, per_sample=per_sample, generator=gen(5))
    assert ((lam > 0) & (lam < 1)).all() and sorted(perm.tolist()) == list(range(6))
    assert (lam.unique().numel() == 1) != per_sample  # one weight per batch, or one per example
    for i in range(6):
        torch.testing.assert_close(xm[i], lam[i].float() * x[i] + (1 - lam[i].float()) * x[perm[i]])
    torch.testing.assert_close(ym.sum(dim=1), torch.ones(6))
    onehot = to_soft_targets(y, 5)
    torch.testing.assert_close(ym, lam[:, None].float() * onehot + (1 - lam[:, None].float()) * onehot[perm])


def test_mixup_identity_when_off():
    x, y = torch.randn(4, 1, 500, generator=gen(3)), torch.eye(4)
    for kwargs in (dict(alpha=0.0), dict(alpha=0.4, prob=0.0)):
        xm, ym = mixup(x, y, generator=gen(0), **kwargs)
        assert torch.equal(xm, x) and torch.equal(ym, y)


def test_mixup_prob_mixes_some_examples_only():
    lam, _ = sample_mixup(2000, alpha=1.0, prob=0.3, per_sample=True, generator=gen(4))
    share_mixed = (lam < 1).float().mean().item()
    assert 0.25 < share_mixed < 0.35


def test_mixup_deterministic_and_lambda_distribution():
    a = mixup(torch.randn(5, 2, 8, 8, generator=gen(1)), torch.arange(5), 0.2, gen(9), n_classes=5)
    b = mixup(torch.randn(5, 2, 8, 8, generator=gen(1)), torch.arange(5), 0.2, gen(9), n_classes=5)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    lam, _ = sample_mixup(20000, alpha=0.2, per_sample=True, generator=gen(6))
    # Beta(0.2, 0.2) is U-shaped and symmetric: mean 1/2, most mass near 0 and 1.
    assert abs(lam.mean().item() - 0.5) < 0.02
    assert ((lam < 0.1) | (lam > 0.9)).float().mean() > 0.6


def test_mix_pair_and_soft_targets():
    x, y = mix_pair(torch.ones(3), torch.zeros(3), torch.tensor([1.0, 0]), torch.tensor([0, 1.0]), 0.3)
    torch.testing.assert_close(x, torch.full((3,), 0.3))
    torch.testing.assert_close(y, torch.tensor([0.3, 0.7]))
    with pytest.raises(ValueError, match="n_classes"):
        to_soft_targets(torch.tensor([1, 2]))


# -------------------------------------------------------------------------------------------------- random erasing
def test_erasing_boxes_within_area_and_aspect_ranges():
    eraser = RandomErasing(p=1.0, area=(0.02, 0.4), aspect=(0.3, 3.3), value="zero")
    x = batch(64, (2, 120, 160))
    boxes = eraser.sample_boxes(64, 120, 160, gen(7))
    assert boxes.erase.all()
    area = (boxes.height * boxes.width).double() / (120 * 160)
    aspect = boxes.height.double() / boxes.width.double()
    # Sides are rounded to whole cells: allow one cell of rounding on each side.
    assert (area > 0.02 * 0.85).all() and (area < 0.4 * 1.15).all()
    assert (aspect > 0.3 * 0.9).all() and (aspect < 3.3 * 1.1).all()
    assert (boxes.top + boxes.height <= 120).all() and (boxes.left + boxes.width <= 160).all()
    assert (boxes.top >= 0).all() and (boxes.left >= 0).all()
    out = eraser(x, gen(7))  # same seed: the same boxes
    erased = out == 0
    assert torch.equal(erased, box_mask(boxes, 120, 160).expand_as(x))  # exactly the box, in every channel
    assert torch.equal(erased.sum(dim=(1, 2, 3)), 2 * boxes.height * boxes.width)
    assert torch.equal(out[~erased], x[~erased])


def test_erasing_probability_and_determinism():
    x = batch(200, (1, 30, 30))
    assert torch.equal(RandomErasing(p=0.0)(x, gen(0)), x)
    always = RandomErasing(p=1.0, value="zero")(x, gen(0))
    assert ((always == 0).flatten(1).any(dim=1)).all()
    half = RandomErasing(p=0.5, value="zero")(x, gen(0))
    share = (half == 0).flatten(1).any(dim=1).float().mean().item()
    assert 0.38 < share < 0.62
    again = RandomErasing(p=0.5, value="zero")(x, gen(0))
    assert torch.equal(half, again)
    assert not torch.equal(half, RandomErasing(p=0.5, value="zero")(x, gen(1)))


def test_erasing_fill_values_and_single_example():
    x = batch(4, (3, 50, 50))
    eraser_mean = RandomErasing(p=1.0, value="mean")
    boxes = eraser_mean.sample_boxes(4, 50, 50, gen(3))
    mask = box_mask(boxes, 50, 50).expand_as(x)
    out = eraser_mean(x, gen(3))
    means = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    torch.testing.assert_close(out[mask], means[mask])
    noisy = RandomErasing(p=1.0, value="random")(x, gen(3))
    lo, hi = x.amin(dim=(2, 3), keepdim=True).expand_as(x), x.amax(dim=(2, 3), keepdim=True).expand_as(x)
    assert ((noisy[mask] >= lo[mask]) & (noisy[mask] <= hi[mask])).all()
    assert noisy[mask].unique().numel() > 10  # noise, not a constant
    single = RandomErasing(p=1.0, value="zero")(x[0], gen(3))
    assert single.shape == x[0].shape and (single == 0).any()
    assert RandomErasing(p=1.0)(x[0, 0], gen(3)).shape == (50, 50)


# ----------------------------------------------------------------------------------------------------- SpecAugment
def test_specaugment_mask_widths_bounded():
    aug = SpecAugment(freq_masks=2, freq_width=10, time_masks=3, time_width=15, value="zero")
    x = batch(100, (1, 64, 80))
    masks = aug.sample_masks(100, 64, 80, gen(11))
    assert masks.freq_width.shape == (100, 2) and masks.time_width.shape == (100, 3)
    assert masks.freq_width.max() <= 10 and masks.time_width.max() <= 15 and masks.freq_width.min() >= 0
    assert masks.freq_width.max() == 10 and masks.time_width.max() == 15  # the whole range 0..width is drawn
    assert (masks.freq_start + masks.freq_width <= 64).all() and (masks.time_start + masks.time_width <= 80).all()
    out = aug(x, gen(11))
    zero = out[:, 0] == 0
    full_rows = zero.all(dim=2).sum(dim=1)
    full_cols = zero.all(dim=1).sum(dim=1)
    assert (full_rows <= 2 * 10).all() and (full_cols <= 3 * 15).all()
    # A cell is masked exactly when its row or its column is.
    assert torch.equal(zero, SpecAugment.mask_of(masks, 64, 80)[:, 0])
    assert torch.equal(SpecAugment(0, 10, 0, 10)(x, gen(0)), x)
    assert SpecAugment(value="zero")(x[0], gen(0)).shape == x[0].shape


def test_specaugment_width_capped_by_size():
    masks = SpecAugment(1, 500, 1, 500).sample_masks(50, 20, 30, gen(2))
    assert masks.freq_width.max() <= 20 and masks.time_width.max() <= 30


# ------------------------------------------------------------------------------------------------------- pipeline
def test_augmenter_pipeline():
    x, y = batch(8, (3, 32, 32)), torch.eye(8)
    cfg = AugmentConfig(mixup_alpha=0.4, erase_prob=1.0, freq_masks=1, time_masks=1)
    aug = Augmenter(cfg)
    out1, y1 = aug(x, y, gen(0))
    out2, y2 = aug(x, y, gen(0))
    assert torch.equal(out1, out2) and torch.equal(y1, y2)
    assert out1.shape == x.shape and not torch.equal(out1, x)
    torch.testing.assert_close(y1.sum(dim=1), torch.ones(8))
    off = Augmenter(AugmentConfig.off())
    assert not off.active
    xo, yo = off(x, y, gen(0))
    assert torch.equal(xo, x) and torch.equal(yo, y)
    waves = torch.randn(4, 1, 300, generator=gen(1))
    xw, yw = Augmenter(cfg)(waves, torch.eye(4), gen(0))  # waveforms: mixup only
    assert xw.shape == waves.shape
    lam, perm = sample_mixup(4, 0.4, generator=gen(0))
    torch.testing.assert_close((xw, yw), apply_mixup(waves, torch.eye(4), lam, perm))


def test_augment_config_round_trip_and_validation():
    cfg = AugmentConfig(mixup_alpha=1.0, erase_area=(0.1, 0.2), erase_value="random", time_masks=2)
    assert AugmentConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    for bad in (dict(mixup_prob=1.5), dict(erase_area=(0.5, 0.1)), dict(erase_aspect=(0, 1)),
                dict(erase_value="blue"), dict(freq_masks=-1), dict(mixup_alpha=-1)):
        with pytest.raises(ValueError):
            AugmentConfig(**bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_batch_with_cpu_generator_equals_cpu():
    x, y = batch(8, (3, 32, 32)), torch.eye(8)
    aug = Augmenter(AugmentConfig(mixup_alpha=0.4, erase_prob=1.0, erase_value="random", freq_masks=1, time_masks=1))
    cpu = aug(x, y, gen(0))
    gpu = aug(x.cuda(), y.cuda(), gen(0))
    torch.testing.assert_close((gpu[0].cpu(), gpu[1].cpu()), cpu)
