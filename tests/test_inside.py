"""Looking inside the networks: first-layer filters, Grad-CAM and embeddings (audiotag.evaluation.filters / gradcam /
embeddings), each against a known answer."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from audiotag.evaluation import embeddings as emb
from audiotag.evaluation import filters as flt
from audiotag.evaluation import gradcam as gc

SR = 16000
N_FFT = 1024
BIN_HZ = SR / N_FFT


def _conv_with_kernels(kernels: np.ndarray) -> nn.Module:
    conv = nn.Conv1d(1, len(kernels), kernels.shape[1], stride=4)
    with torch.no_grad():
        conv.weight.copy_(torch.as_tensor(kernels, dtype=torch.float32)[:, None, :])
    return nn.Sequential(OrderedDict(stem=conv, pool=nn.AdaptiveAvgPool1d(1)))


def _cosines(freqs, taps: int = 80, sr: int = SR) -> np.ndarray:
    t = np.arange(taps) / sr
    return np.stack([np.cos(2 * np.pi * f * t) for f in freqs])


# ------------------------------------------------------------------------------------------------------- filters
def test_a_cosine_kernel_peaks_at_its_frequency():
    f0 = [5555.0, 437.0, 2000.3, 1234.5]
    r = flt.first_layer_responses(_conv_with_kernels(_cosines(f0)), SR, n_fft=N_FFT)
    assert r.db.shape == (4, N_FFT // 2 + 1) and r.freqs[-1] == SR / 2
    assert np.all(np.abs(r.peak_hz - f0) <= BIN_HZ), r.peak_hz
    assert np.allclose(r.db.max(axis=1), 0.0)                 # each row relative to its own peak
    assert list(r.order) == [1, 3, 2, 0] and np.all(np.diff(r.sorted_peak_hz) > 0)
    # an 80-tap burst cannot be sharper than its main lobe (zeros at +-SR/80 = 200 Hz): -3 dB width ~ 0.9 * 200 Hz
    assert np.all((r.bandwidth_hz > 120) & (r.bandwidth_hz < 220)), r.bandwidth_hz


def test_a_moving_average_is_low_pass():
    r = flt.kernel_responses(np.full((1, 80), 1 / 80), SR, n_fft=N_FFT)
    assert r.peak_hz[0] == 0.0 and abs(r.gain_db[0]) < 1e-9      # sum of taps 1: 0 dB at DC
    assert r.db[0, r.freqs >= 2000].max() < -25                   # far above the first zero (200 Hz): strongly cut
    assert r.db[0, r.freqs >= 1000].max() < r.db[0, r.freqs < 100].min() - 10
    assert r.bandwidth_hz[0] < SR / 80


def test_mel_filterbank_responses_are_librosas_triangles():
    import librosa

    r = flt.mel_filterbank_responses(SR, 40, N_FFT)
    fb = librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=40)
    assert np.array_equal(r.peak_hz, r.freqs[fb.argmax(axis=1)])
    assert list(r.order) == list(range(40))                          # already in order of centre frequency
    assert r.bandwidth_hz[-1] > 5 * r.bandwidth_hz[len(r) // 4]      # mel bands widen with frequency
    assert r.gain_db[-1] < r.gain_db[len(r) // 4]                    # area-normalised: wide bands are lower


def test_filter_summary_counts_peaks_per_band():
    a = flt.kernel_responses(_cosines([300, 800, 1500, 3000, 6000]), SR, n_fft=N_FFT)
    b = flt.mel_filterbank_responses(SR, 20, N_FFT)
    table = flt.filter_summary({"cosines": a, "mel": b})
    row = table.loc["cosines"]
    assert (row["below 1 kHz"], row["1 kHz-4 kHz"], row["above 4 kHz"]) == (2, 2, 1)
    assert row["filters"] == 5 and row["distinct peaks"] == 5
    assert abs(row["median peak (Hz)"] - 1500) <= BIN_HZ
    assert table.loc["mel", ["below 1 kHz", "1 kHz-4 kHz", "above 4 kHz"]].sum() == 20


def test_initial_model_is_what_the_trainer_started_from(tone_corpus, tmp_path):
    """Train fold 1 of a tiny run with learning rate 0: the saved weights are the trainer's initial weights, and
    initial_model must rebuild them bit for bit from the checkpoint (seed 3 * 1000 + fold 1)."""
    from audiotag.training.checkpoint import load_checkpoint
    from audiotag.training.profiles import make_config
    from audiotag.training.trainer import train

    config = make_config("conv1d", None, "smoke", quiet=True, folds=[1], max_epochs=1, lr=0.0, seed=3,
                         lr_schedule="plateau", model_kwargs={"channels": [8, 8, 16, 16], "blocks_per_stage": 1})
    run = train(config, tone_corpus, tmp_path / "run", predict_test=False)
    saved = load_checkpoint(run.checkpoint_path(1))
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    rebuilt = flt.initial_model(run.checkpoint_path(1))
    assert torch.equal(torch.rand(3), expected_next)               # the caller's random state is untouched
    params = dict(rebuilt.named_parameters())
    assert params and all(torch.equal(params[k], saved.state_dict[k]) for k in params)
    assert flt.first_conv1d(rebuilt).weight.shape == (8, 1, 80)
    other_fold = flt.initial_model(run.path, fold=0)
    assert not torch.equal(flt.first_conv1d(other_fold).weight, params["features.stem.conv.weight"])
    same = flt.initial_model(config, fold=1)
    assert torch.equal(flt.first_conv1d(same).weight, params["features.stem.conv.weight"])


def test_the_1d_nets_stem_is_a_bank_of_48_filters():
    from audiotag.models import build_model

    r = flt.first_layer_responses(build_model("conv1d"), 44100)
    assert r.db.shape == (48, 513) and r.freqs[-1] == 22050
    with pytest.raises(ValueError, match="no Conv1d"):
        flt.first_layer_responses(nn.Sequential(nn.Linear(2, 2)), SR)


# ------------------------------------------------------------------------------------------------------- Grad-CAM
class _GapNet(nn.Module):
    """conv -> ReLU -> strided conv -> ReLU -> global average pool -> linear: Grad-CAM must equal CAM here."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
                                      nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.ReLU())
        self.classifier = nn.Linear(6, 3)

    def forward(self, x):
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def test_grad_cam_is_the_class_activation_map_of_a_gap_network():
    torch.manual_seed(0)
    model = _GapNet()
    x = torch.randn(2, 1, 20, 12)                       # not square: rows and columns must not be swapped
    targets = [0, 2]
    maps = gc.grad_cam(model, x, targets)
    with torch.no_grad():
        a = model.features(x)                            # (2, 6, 10, 6)
        w = model.classifier.weight[targets]             # (2, 6)
        cam = torch.relu((w[:, :, None, None] * a).sum(1, keepdim=True))
        cam = nn.functional.interpolate(cam, size=(20, 12), mode="bilinear", align_corners=False)[:, 0]
        cam = cam / cam.flatten(1).amax(1)[:, None, None]
    assert maps.shape == (2, 20, 12) and maps.dtype == np.float32
    assert np.allclose(maps, cam.numpy(), atol=1e-5)


BANDS = {0: (6, 30), 1: (36, 60)}   # class -> the input rows [r0, r1) it can see


class _BandPaths(nn.Module):
    """One masked copy of the input per class band, each through its own bias-free convolutions: outside its band
    (and the convolutions' reach) a path's feature maps are exactly 0. Output: the paths' maps side by side.

    The kernels are non-negative, so the maps follow the band's content; random-sign kernels respond most to the
    mask's edges, whose evidence then straddles the band's border at the layer's coarse (stride 2) grid."""

    def __init__(self, height: int):
        super().__init__()
        masks = torch.zeros(len(BANDS), 1, 1, height, 1)
        for c, (r0, r1) in BANDS.items():
            masks[c, ..., r0:r1, :] = 1
        self.register_buffer("masks", masks)
        self.paths = nn.ModuleList(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.ReLU(),
                                                 nn.Conv2d(4, 4, 3, stride=2, padding=1, bias=False), nn.ReLU())
                                   for _ in BANDS)
        with torch.no_grad():
            for p in self.paths.parameters():
                p.abs_()

    def forward(self, x):
        return torch.cat([path(x * m) for path, m in zip(self.paths, self.masks)], dim=1)


class _TwoBandNet(nn.Module):
    """Class c's logit weighs only the maps of band c's path (positively): class c can only see its band."""

    def __init__(self, height: int):
        super().__init__()
        self.bands = _BandPaths(height)
        self.classifier = nn.Linear(8, 2)
        with torch.no_grad():
            self.classifier.weight.zero_()
            self.classifier.weight[0, :4] = torch.rand(4) + 0.5
            self.classifier.weight[1, 4:] = torch.rand(4) + 0.5

    def forward(self, x):
        return self.classifier(self.bands(x).mean(dim=(2, 3)))


def test_grad_cam_finds_the_only_band_a_class_can_see():
    torch.manual_seed(1)
    model = _TwoBandNet(height=64)
    x = torch.rand(3, 1, 64, 24)
    for c, (r0, r1) in BANDS.items():                   # same input, same layer: the class decides where
        maps = gc.grad_cam(model, x, target_class=c, layer="bands")
        total = maps.sum(axis=(1, 2))
        inside = maps[:, r0:r1, :].sum(axis=(1, 2)) / total
        r0_other, r1_other = BANDS[1 - c]
        in_other = maps[:, r0_other:r1_other, :].sum(axis=(1, 2)) / total
        assert np.all(inside > 0.9) and np.all(in_other < 0.01), (c, inside, in_other)
        assert np.allclose(maps.max(axis=(1, 2)), 1.0)


def test_grad_cam_leaves_no_gradients_and_keeps_the_models_mode():
    torch.manual_seed(2)
    model = nn.Sequential(OrderedDict(features=nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU()),
                                      pool=nn.AdaptiveAvgPool2d(1), flat=nn.Flatten(), classifier=nn.Linear(4, 5)))
    model.train()
    before = model.features[1].running_mean.clone()
    maps = gc.grad_cam(model, torch.randn(2, 3, 16, 16))
    assert model.training and all(p.grad is None for p in model.parameters())
    assert torch.equal(model.features[1].running_mean, before)      # the maps were made in eval mode
    assert maps.shape == (2, 16, 16)
    with pytest.raises(ValueError, match="target classes"):
        gc.grad_cam(model, torch.randn(2, 3, 16, 16), target_class=[1, 2, 3])


def test_grad_cam_on_the_1d_net_maps_every_sample():
    from audiotag.models import build_model

    torch.manual_seed(6)
    model = build_model("conv1d", channels=[8, 8, 16, 16], blocks_per_stage=1)
    assert gc.default_layer(model) is model.features.stage4_block1
    maps = gc.grad_cam(model, torch.randn(2, 1, 3000), target_class=4)
    assert maps.shape == (2, 3000) and maps.min() >= 0 and np.allclose(maps.max(axis=1), 1.0)


def test_grad_cam_on_the_2d_net_at_75_pixels_and_on_a_clip():
    from audiotag.data.labels import LABELS
    from audiotag.features.config import FeatureConfig
    from audiotag.models import build_model
    from audiotag.training.checkpoint import Checkpoint
    from audiotag.training.config import InferenceConfig

    torch.manual_seed(3)
    model = build_model("inception2d")
    assert gc.default_layer(model) is model.features.mixed6
    x = torch.randn(2, 3, 75, 75)
    a = gc.grad_cam(model, x)
    assert a.shape == (2, 75, 75) and a.dtype == np.float32
    assert a.min() >= 0 and np.allclose(a.max(axis=(1, 2)), 1.0)
    b = gc.grad_cam(model, x[1:], layer="features.mixed6")
    assert np.allclose(a[1], b[0], atol=1e-4)                        # each example explained on its own
    assert np.array_equal(b, gc.grad_cam(model, x[1:]))              # deterministic
    assert all(p.grad is None for p in model.parameters())

    features = FeatureConfig(kind="logmel", n_mels=64, image_size=75)
    ckpt = Checkpoint("inception2d", {}, model.state_dict(), tuple(LABELS), features,
                      InferenceConfig(crop_seconds=0.5), {})
    t = np.arange(int(0.8 * features.sample_rate)) / features.sample_rate
    wave = (0.5 * np.sin(2 * np.pi * 880 * t)).astype(np.float32)
    (cam,) = gc.checkpoint_grad_cams(ckpt, [wave], target_classes=[LABELS[5]], model=model)
    assert cam.feature.shape == cam.cam.shape == (64, 1 + int(0.5 * features.sample_rate) // 512)
    assert cam.image.shape == (3, 75, 75) and cam.image_cam.shape == (75, 75)
    assert cam.target == 5 and cam.label == LABELS[5] and cam.probs.shape == (41,)
    assert 0 <= cam.cam.min() and cam.cam.max() <= 1


# ------------------------------------------------------------------------------------------------------ embeddings
def test_embeddings_are_what_the_classifier_reads():
    from audiotag.models import build_model

    torch.manual_seed(4)
    for model, x in ((build_model("conv1d", channels=[8, 8, 16, 24]), torch.randn(3, 1, 4000)),
                     (build_model("inception2d", dense_units=32), torch.randn(2, 3, 75, 75))):
        h, logits = emb.embed(model, x, return_logits=True)
        assert h.shape == (len(x), model.classifier.in_features) == (len(x), emb.embedding_size(model))
        with torch.no_grad():
            assert np.allclose(model.classifier(torch.from_numpy(h)).numpy(), logits, atol=1e-5)


def test_clip_embeddings_average_windows_as_inference_does(tone_corpus):
    from audiotag.data.audio import load_audio
    from audiotag.data.datasets import load_dataset
    from audiotag.features.config import FeatureConfig
    from audiotag.models import build_model
    from audiotag.training.bank import ClipBank
    from audiotag.training.checkpoint import Checkpoint
    from audiotag.training.config import InferenceConfig
    from audiotag.training.pipeline import InputPipeline
    from audiotag.training.validation import predict_bank

    torch.manual_seed(5)
    test = load_dataset(tone_corpus).scored_test()
    model = build_model("conv1d", channels=[8, 8, 16, 24]).eval()
    features = FeatureConfig(kind="waveform", sample_rate=8000, image_size=None)
    inference = InferenceConfig(crop_seconds=0.5, max_crops=3)
    ckpt = Checkpoint("conv1d", model.init_kwargs, model.state_dict(), tuple(f"c{i}" for i in range(41)), features,
                      inference, {})
    out = emb.embed_clips(ckpt, test["path"].tolist(), model=model, batch_size=5)
    assert out.vectors.shape == (len(test), 24) and list(out.names) == test["fname"].tolist()
    pipeline = InputPipeline(features)
    bank = ClipBank([pipeline.clip_item(load_audio(p, 8000)) for p in test["path"]])
    assert np.allclose(out.probs, predict_bank(model, bank, pipeline, inference), atol=1e-6)


def test_tsne_map_is_deterministic_for_a_seed():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c, 1.0, size=(12, 16)) for c in (0, 6, 12)])
    assert emb.default_perplexity(len(x)) < len(x) / 3 and emb.default_perplexity(1000) == 30
    a = emb.tsne_map(x, seed=0)
    b = emb.tsne_map(x, seed=0)
    assert a.shape == (36, 2) and np.array_equal(a, b)
    labels = np.repeat(["a", "b", "c"], 12)                       # three separated blobs stay apart in the map
    assert emb.overlapping_classes(a, labels, k=3).empty


def test_overlapping_classes_finds_interleaved_classes_and_not_separated_ones():
    rng = np.random.default_rng(1)
    points = np.concatenate([rng.normal(0, 1, (20, 8)), rng.normal(0, 1, (20, 8)),      # A, B: one cloud
                             rng.normal(40, 1, (15, 8)), rng.normal(-40, 1, (15, 8))])  # C, D: far apart
    labels = ["A"] * 20 + ["B"] * 20 + ["C"] * 15 + ["D"] * 15
    table = emb.overlapping_classes(points, labels, k=5, top=None)
    assert list(zip(table["class_a"], table["class_b"])) == [("A", "B")]
    assert 0.3 < table["overlap"].iloc[0] < 0.7                   # about half of A's and B's neighbours swap
    assert table["links"].iloc[0] == round(table["overlap"].iloc[0] * 5 * 40)


# ------------------------------------------------------------------------------------------------------------ plots
def test_the_figures_draw_what_they_are_given():
    from audiotag.book import plots

    a = flt.kernel_responses(_cosines([3000, 500, 1500]), SR, n_fft=N_FFT, name="cosines")
    b = flt.mel_filterbank_responses(SR, 10, N_FFT)
    fig = plots.filterbank_comparison({"cosines": a, "mel": b}, floor_db=-30)
    shown = fig.axes[0].images[0].get_array()
    assert np.allclose(shown, np.maximum(a.db[[1, 2, 0]], -30))         # rows sorted by peak: 500, 1500, 3000 Hz

    cam = gc.ClipCam(feature=np.random.default_rng(0).normal(size=(16, 10)), cam=np.zeros((16, 10)),
                     image=np.zeros((3, 8, 8)), image_cam=np.zeros((8, 8)), target=2, probs=np.full(5, 0.2),
                     hop_length=512, sample_rate=44100, label="Bark", name="x.wav")
    fig = plots.grad_cam_panel([cam, cam, cam], columns=2)
    assert len(fig.axes) == 6 and "Bark (p = 0.20)" in fig.axes[0].get_title()
    assert "no evidence" in fig.axes[0].get_title()

    colours = plots.class_palette(41)
    assert len({tuple(c) for c in colours}) == 41
    xy = np.random.default_rng(1).normal(size=(6, 2))
    labels = ["b", "a", "c", "a", "b", "c"]
    fig = plots.embedding_maps({"1D": (xy, labels), "2D": (xy[::-1], labels[::-1])})
    for ax in fig.axes:                                  # a class has the same colour in both panels
        faces = {tuple(coll.get_facecolor()[0][:3]) for coll in ax.collections}
        assert faces == {tuple(c[:3]) for c in colours[:3]}
    with pytest.raises(ValueError, match="do not match"):
        plots.embedding_maps({"bad": (xy[:4], labels)})
