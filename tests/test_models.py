"""The paper's networks: exact parameter counts, shapes, gradients, bf16, channels_last, errors, summary."""
from __future__ import annotations

import copy
import json
import math

import pytest
import torch
import torch.nn.functional as F

from audiotag.features.config import FeatureConfig
from audiotag.models import (MODEL_NAMES, BaselineCNN, ModelInputError, UnknownModelError, build_model,
                             default_features, input_rank, keras_param_count, summary, summary_text,
                             trainable_param_count)
from audiotag.models.blocks import ResidualBlock1d, SamePadMaxPool2d, ShiftOnlyBatchNorm2d, same_padding

SR = 44100
#: Small inputs per model, for the gradient / bf16 / layout tests.
SMALL_INPUT = {"conv1d": (2, 1, 8000), "inception2d": (2, 3, 75, 75), "baseline": (2, 1, 64, 40)}


@pytest.fixture(scope="module", autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: build_model(name) for name in MODEL_NAMES}


# ----------------------------------------------------------------------------------------- parameter counts
def test_paper_parameter_counts_exact(models):
    assert keras_param_count(models["conv1d"]) == 2_099_801       # paper, Table 1
    assert keras_param_count(models["inception2d"]) == 7_664_969  # paper, Table 2
    assert keras_param_count(models["baseline"]) == 658_591       # baseline README: 658.1K weights + 491 biases


def test_keras_count_adds_running_statistics_only():
    bn = torch.nn.BatchNorm1d(10)
    assert keras_param_count(bn) == 40 and trainable_param_count(bn) == 20  # gamma, beta + mean, var
    shift_only = ShiftOnlyBatchNorm2d(10)
    assert keras_param_count(shift_only) == 30 and trainable_param_count(shift_only) == 10
    assert shift_only.weight is None and shift_only.bias.shape == (10,)
    # the 1D net: 17 + 8 BatchNorms over 48..384 channels hold 2 running statistics per channel each
    bn_channels = 48 + 4 * (48 + 96 + 192 + 384) + 2 * (48 + 96 + 192 + 384)
    assert keras_param_count(build_model("conv1d")) - trainable_param_count(build_model("conv1d")) == 2 * bn_channels


# ----------------------------------------------------------------------------------------- output shapes
@pytest.mark.parametrize("seconds", [2, 3, 4, 5])
def test_conv1d_paper_lengths(models, seconds):
    with torch.no_grad():
        assert models["conv1d"].eval()(torch.randn(2, 1, seconds * SR)).shape == (2, 41)


def test_conv1d_accepts_flat_batch_and_short_cpu_clips(models):
    m = models["conv1d"].eval()
    x = torch.randn(2, 16000)  # 1 s at 16 kHz
    with torch.no_grad():
        assert torch.equal(m(x), m(x.unsqueeze(1)))
        assert m(torch.randn(3, 1, 22050)).shape == (3, 41)
        assert m(torch.randn(1, 1, 1100)).shape == (1, 41)  # the documented minimum


@pytest.mark.parametrize("size,batch", [(299, 1), (128, 2), (75, 2)])
def test_inception_sizes(models, size, batch):
    with torch.no_grad():
        assert models["inception2d"].eval()(torch.randn(batch, 3, size, size)).shape == (batch, 41)


def test_inception_native_single_channel_feature():
    m = build_model("inception2d", in_channels=1).eval()
    with torch.no_grad():
        assert m(torch.randn(2, 1, 128, 100)).shape == (2, 41)


@pytest.mark.parametrize("frames,patches", [(25, 1), (36, 1), (37, 2), (100, 7), (301, 24)])
def test_baseline_clip_lengths(models, frames, patches):
    m = models["baseline"].eval()
    x = torch.randn(2, 1, 64, frames)
    with torch.no_grad():
        assert m(x).shape == (2, 41)
        assert m.patch_logits(x).shape == (2, patches, 41)
    assert m.n_patches(frames) == patches


# ----------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("name,shape,needle", [
    ("conv1d", (2, 1, 1099), "at least 1100 samples"),
    ("conv1d", (2, 2, 5000), "mono"),
    ("inception2d", (2, 3, 74, 299), "at least 75"),
    ("inception2d", (2, 3, 299, 74), "at least 75"),
    ("inception2d", (2, 1, 299, 299), "(B, 3, H, W)"),
    ("baseline", (2, 1, 64, 24), "at least 25 frames"),
    ("baseline", (2, 1, 128, 100), "(B, 1, 64, T)"),
])
def test_too_small_or_wrong_inputs_raise_our_error(models, name, shape, needle):
    with pytest.raises(ModelInputError) as info, torch.no_grad():
        models[name](torch.randn(*shape))
    assert name in str(info.value) and needle in str(info.value) and info.value.shape == shape


def test_unknown_model_name_lists_valid_names():
    with pytest.raises(UnknownModelError) as info:
        build_model("resnet50")
    assert all(name in str(info.value) for name in MODEL_NAMES)
    with pytest.raises(UnknownModelError):
        default_features("resnet50")


# ----------------------------------------------------------------------------------------- training behaviour
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_backward_gives_finite_gradient_to_every_parameter(name):
    torch.manual_seed(1)
    model = build_model(name).train()
    logits = model(torch.randn(*SMALL_INPUT[name]))
    F.cross_entropy(logits, torch.tensor([3, 17])).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert torch.isfinite(p.grad).all(), pname
    assert sum(p.grad.abs().sum().item() for p in model.parameters()) > 0


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_bf16_autocast_on_cpu_is_finite_and_close(models, name):
    # the baseline's own 1e-3 initialisation makes every logit ~log(1/41): use larger weights to see bf16 error
    model = (BaselineCNN(init_std=0.05) if name == "baseline" else models[name]).eval()
    x = torch.randn(*SMALL_INPUT[name])
    forward = model.patch_logits if name == "baseline" else model
    with torch.no_grad():
        reference = forward(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = forward(x)
    assert low.dtype == torch.bfloat16  # the classifier really ran in bf16
    low = low.float()
    assert torch.isfinite(low).all()
    assert (low - reference).abs().max() < 0.05 * reference.abs().max() + 1e-3
    assert (low.softmax(-1) - reference.softmax(-1)).abs().max() < 0.01


@pytest.mark.parametrize("name", ["inception2d", "baseline"])
def test_channels_last_equals_contiguous(models, name):
    model = models[name].eval()
    fast = copy.deepcopy(model).to(memory_format=torch.channels_last)
    x = torch.randn(*SMALL_INPUT[name])
    with torch.no_grad():
        expected = model(x)
        got = fast(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------------- baseline semantics
def test_baseline_averages_patch_probabilities_like_the_released_code(models):
    m = models["baseline"].eval()
    x = torch.randn(2, 1, 64, 64)  # 4 patches starting at frames 0, 12, 24, 36
    with torch.no_grad():
        clip = m(x)
        per_patch = torch.stack([m.patch_logits(x[..., s:s + 25])[:, 0] for s in (0, 12, 24, 36)], dim=1)
        torch.testing.assert_close(m.patch_logits(x), per_patch, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(clip.softmax(-1), per_patch.softmax(-1).mean(1), rtol=1e-5, atol=1e-7)
        by_logits = BaselineCNN(average="logits")
        by_logits.load_state_dict(m.state_dict())
        torch.testing.assert_close(by_logits.eval()(x), per_patch.mean(1), rtol=1e-5, atol=1e-7)


def test_same_pad_max_pool_matches_tensorflow_rule():
    # TensorFlow SAME, kernel 3, stride 2: size 5 pads (1, 1), size 4 pads (0, 1) -- the odd pixel goes after
    assert same_padding(5, 3, 2) == (1, 1) and same_padding(4, 3, 2) == (0, 1) and same_padding(64, 3, 2) == (0, 1)
    pool = SamePadMaxPool2d(3, stride=2)
    assert pool(torch.arange(4.0).view(1, 1, 1, 4)).flatten().tolist() == [2.0, 3.0]  # symmetric pad: [1, 3]
    assert pool(-torch.arange(5.0).view(1, 1, 1, 5)).flatten().tolist() == [-0.0, -1.0, -3.0]
    assert pool(torch.zeros(1, 1, 25, 64)).shape == (1, 1, 13, 32)


def test_residual_shortcut_zero_pads_new_channels():
    block = ResidualBlock1d(2, 4).eval()
    with torch.no_grad():
        for conv in (block.conv1.conv, block.conv2.conv):
            conv.weight.zero_()
            conv.bias.zero_()
        x = torch.randn(3, 2, 10)
        y = block(x)
    scale = 1 / math.sqrt(1 + block.bn_out.eps)
    torch.testing.assert_close(y[:, :2], F.relu(x) * scale)
    assert torch.equal(y[:, 2:], torch.zeros(3, 2, 10))


# ----------------------------------------------------------------------------------------- registry
def test_registry_features_ranks_and_json_kwargs(models):
    assert MODEL_NAMES == ("conv1d", "inception2d", "baseline")
    assert default_features("conv1d").kind == "waveform"
    assert (default_features("inception2d").kind, default_features("inception2d").image_size) == ("logmel", 299)
    base = default_features("baseline")
    assert (base.kind, base.n_mels, base.win_length, base.hop_length, base.n_fft) == ("logmel", 64, 1102, 441, 2048)
    assert (base.fmin, base.fmax, base.image_size, base.top_db) == (125.0, 7500.0, None, None)
    assert (base.window, base.normalize, base.standardize) == ("hann", "none", "none")
    assert FeatureConfig.from_dict(base.to_dict()) == base
    assert [input_rank(n) for n in MODEL_NAMES] == [3, 4, 4]
    for name, model in models.items():
        kwargs = json.loads(json.dumps(model.init_kwargs))
        rebuilt = build_model(name, **kwargs)
        rebuilt.load_state_dict(model.state_dict())  # same architecture, same keys and shapes
    small = build_model("conv1d", n_classes=5, channels=[8, 16], blocks_per_stage=1)
    assert small.min_length == 80 + 4 * (16 - 1)
    with torch.no_grad():
        assert small.eval()(torch.randn(2, 1, small.min_length)).shape == (2, 5)


# ----------------------------------------------------------------------------------------- summary
def test_summary_rows_and_totals(models):
    model = models["inception2d"].train()
    df = summary(model, (1, 3, 299, 299))
    assert model.training  # restored
    assert list(df.columns) == ["layer", "type", "output shape", "params"]
    assert [f"features.mixed{i}" for i in range(7)] == [l for l in df["layer"] if "mixed" in l]
    assert df.set_index("layer").loc["features.mixed6", "output shape"] == (1, 768, 17, 17)
    assert df.iloc[-1]["output shape"] == (1, 41)
    assert df["params"].sum() == df.attrs["keras_params"] == 7_664_969
    assert "7,664,969" in summary_text(df)

    conv = summary(models["conv1d"], (1, 1, 2 * SR))
    assert conv.set_index("layer").loc["features.stem", "output shape"] == (1, 48, 22031)
    assert conv["params"].sum() == 2_099_801
    leaves = summary(models["baseline"], (1, 1, 64, 25), expand=True)
    assert "Conv2d" in set(leaves["type"]) and leaves["params"].sum() == 658_591
