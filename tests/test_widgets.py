"""The explorers, driven headless: set a control's value, check what they compute and show changed with it."""
import io

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audiotag.features.spectral import n_frames
from audiotag.training.prediction_sets import Predictions
from audiotag.book.widgets import (KERNEL_NOTE, PLAYER_RATE, STATIC_NOTE, AugmentationExplorer, FeatureExplorer,
                                   PredictionExplorer, wav_bytes)

RATE = 16000


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Four short clips of two classes: tones (Flute) and noise bursts (Knock), 0.5 to 1.2 s."""
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    rows = []
    for i, (label, seconds) in enumerate((("Flute", 0.8), ("Flute", 1.2), ("Knock", 0.5), ("Knock", 0.9))):
        t = np.arange(int(seconds * RATE)) / RATE
        if label == "Flute":
            wave = 0.5 * np.sin(2 * np.pi * (440 + 110 * i) * t)
        else:
            wave = rng.normal(0, 0.3, len(t)) * np.exp(-8 * t)
        path = folder / f"clip{i}.wav"
        sf.write(path, wave.astype(np.float32), RATE)
        rows.append({"fname": path.name, "label": label, "path": str(path)})
    return pd.DataFrame(rows)


def _image_shape(explorer):
    return explorer.figure.axes[1].images[0].get_array().shape


def test_wav_bytes_is_a_short_low_rate_wav():
    data = wav_bytes(np.zeros(10 * 44100, dtype=np.float32), 44100, max_seconds=2.0)
    wave, rate = sf.read(io.BytesIO(data))
    assert rate == PLAYER_RATE and len(wave) == 2 * PLAYER_RATE


def test_feature_explorer_follows_its_controls(clips):
    ex = FeatureExplorer(clips, sample_rate=RATE, n_fft=1024, hop_length=256, n_mels=64)
    n = len(ex.waveform)
    assert ex.label.value == "Flute" and ex.clip.options == ("clip0.wav", "clip1.wav")
    assert ex.feature.shape == (1, 64, n_frames(n, 256))
    assert _image_shape(ex) == (64, n_frames(n, 256))
    png = ex.image.value

    ex.n_mels.value = 32
    assert ex.feature.shape[1] == 32 and _image_shape(ex)[0] == 32
    assert ex.image.value != png

    ex.hop_length.value = 512
    assert ex.feature.shape[2] == n_frames(n, 512)

    ex.kind.value = "mfcc"                     # 40 coefficients, at most the number of mel bands
    assert ex.feature.shape[1] == 32
    ex.n_mels.value = 128
    assert ex.feature.shape[1] == 40

    ex.kind.value = "spectrogram"
    ex.n_fft.value = 512
    assert ex.feature.shape[1] == 257          # 1 + n_fft // 2 bins: the window control applies

    ex.kind.value = "multires"
    assert ex.feature.shape[0] == 3

    ex.clip.value = "clip1.wav"
    assert len(ex.waveform) == int(1.2 * RATE)
    wave, rate = sf.read(io.BytesIO(ex.player.value))
    assert rate == PLAYER_RATE and len(wave) == int(1.2 * PLAYER_RATE)

    ex.label.value = "Knock"                   # the clip list follows the class
    assert ex.clip.options == ("clip2.wav", "clip3.wav") and ex.clip.value == "clip2.wav"
    assert len(ex.waveform) == int(0.5 * RATE)
    assert "Knock" in ex.info.value


def test_augmentation_explorer_mixes_and_erases(clips):
    ex = AugmentationExplorer(clips, sample_rate=RATE, seconds=1.0, seed=3)
    ex.clip_a.value, ex.clip_b.value = "clip0.wav", "clip2.wav"
    ex.lam.value = 0.25
    np.testing.assert_allclose(ex.mixed_wave, 0.25 * ex.wave_a + 0.75 * ex.wave_b, atol=1e-6)
    np.testing.assert_allclose(ex.mixed_feature, 0.25 * ex.feature_a + 0.75 * ex.feature_b, atol=1e-5)
    assert ex.mixed_target == pytest.approx({"Flute": 0.25, "Knock": 0.75})
    assert "0.25 Flute" in ex.info.value

    # Random erasing changes one rectangle of the mix and nothing else.
    top, left, h, w = ex.box
    inside = np.zeros(ex.mixed_feature.shape[1:], dtype=bool)
    inside[top:top + h, left:left + w] = True
    changed = ~np.isclose(ex.erased, ex.mixed_feature).all(axis=0)
    assert changed.any() and not changed[~inside].any()
    area = h * w / inside.size
    assert 0.02 * 0.8 <= area <= 0.4 * 1.2          # the area range, up to rounding of the box sides

    ex.fill.value = "zero"
    top, left, h, w = ex.box
    assert (ex.erased[:, top:top + h, left:left + w] == 0).all()

    boxes = set()
    for seed in range(4):
        ex.seed.value = seed
        boxes.add(ex.box)
    assert len(boxes) > 1                           # the seed drives the rectangle

    ex.erase_area.value = (0.5, 0.6)
    top, left, h, w = ex.box
    assert h > 0 and 0.4 <= h * w / inside.size <= 0.7


def _predictions():
    probs = np.array([[0.7, 0.2, 0.05, 0.05], [0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]])
    return Predictions(np.array(["a.wav", "b.wav", "c.wav"]), probs, ("Bark", "Meow", "Cough", "Knock"))


def test_prediction_explorer_shows_top_tags_and_verdict(clips):
    truth = {"a.wav": "Bark", "b.wav": "Bark"}
    paths = {"a.wav": clips["path"][0]}
    ex = PredictionExplorer(_predictions(), truth=truth, paths=paths, top=3)
    assert ex.top["label"].tolist() == ["Bark", "Meow", "Cough"]
    assert ex.top["probability"].tolist() == pytest.approx([0.7, 0.2, 0.05])
    assert ex.top["correct"].tolist() == [True, False, False] and ex.hit is True
    assert "right" in ex.verdict.value and len(ex.player.value) > 44
    assert "(true: Bark)" in dict((v, k) for k, v in ex.clip.options)["a.wav"]

    ex.clip.value = "b.wav"
    assert ex.top["label"].tolist() == ["Knock", "Cough", "Meow"]
    assert ex.hit is False and "wrong" in ex.verdict.value
    assert ex.player.value == b""                   # no audio file known for it
    bars = ex.figure.axes[0].patches
    # the top 3, then the true label below them: Bark, ranked 4th with 0.1
    assert [p.get_width() for p in bars] == pytest.approx([0.4, 0.3, 0.2, 0.1])
    assert "rank: 4" in ex.verdict.value

    ex.clip.value = "c.wav"
    assert ex.hit is None and ex.verdict.value == "true label unknown"


def test_explorers_display_as_widget_with_a_static_note(clips):
    ex = PredictionExplorer(_predictions())
    bundle = ex._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    # no in-page counterpart to point to: the note says it needs a kernel (chapter 2's explorers point nearby)
    assert bundle["text/html"] == KERNEL_NOTE and "nearby" not in KERNEL_NOTE
    assert FeatureExplorer(clips)._repr_mimebundle_()["text/html"] == STATIC_NOTE


def test_bad_inputs_are_refused(clips):
    with pytest.raises(ValueError, match="lacks column"):
        FeatureExplorer(clips.drop(columns="path"))
    with pytest.raises(ValueError, match="no predictions"):
        PredictionExplorer(Predictions(np.array([], dtype=str), np.zeros((0, 2)), ("a", "b")))
