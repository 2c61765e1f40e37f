"""The page tagger's JavaScript (``audiotag/book/static/tagger/`` and the tagger functions of
``static/explorers/dsp.js``) in headless Chromium, against audiotag's Python, without a trained model.

A temporary site holds the shipped static files, onnxruntime-web's runtime (from ``node_modules``; the page tests are
skipped without it) and a toy model set made here: two tiny "networks" exported to ONNX with torch, a waveform one at
16 kHz and a log-mel one at 22.05 kHz, two folds each, with their ``tagger.json`` manifest and test clips. Pages:

* ``dsp.html``: only ``dsp.js``, for the numerics: the resampler against ``audio.resample`` (and its filter against
  ``audio.resampling_filter``), window starts and crops against ``ClipBank``, WAV decoding against soundfile,
  header sniffing, the combination of probabilities against ``ensembles.arithmetic_mean`` and ``top_tags``;
* ``chapters/tagger.html``: a tagger panel as the chapter writes it. A clip tagged through the panel (test clip, file
  input, drop, fake microphone) must give what audiotag's own pipeline gives with the same ONNX models (Python:
  ``load_audio`` -> ``InputPipeline.clip_item`` -> ``ClipBank`` windows -> onnxruntime -> means);
* ``plain.html``: a page without a panel, where ``tagger.js`` must do nothing.

Every page test also checks that the page logs no console or page error and requests nothing outside the local
server. The measured numbers are printed (``pytest -s``).
"""
from __future__ import annotations

import base64
import io
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from browser_support import (CHROMIUM_ARGS, F64_HELPERS, browser, open_recorded_page, recorded_page,  # noqa: F401
                             served_site)

from audiotag.book.build import NODE_MODULES, VENDOR_FILES
from audiotag.data import audio as AUDIO
from audiotag.data.labels import LABELS
from audiotag.evaluation.ensembles import arithmetic_mean
from audiotag.features.config import FeatureConfig
from audiotag.training.bank import ClipBank
from audiotag.training.pipeline import InputPipeline

REPO = Path(__file__).resolve().parents[1]
STATIC = REPO / "audiotag" / "book" / "static"
ORT_DIST = NODE_MODULES / VENDOR_FILES["onnxruntime-web"][0]
RUNTIME_FILES = VENDOR_FILES["onnxruntime-web"][1]
#: Page against Python: the waveform network (the same float32 samples go in) and the log-mel one (float64 dB in the
#: page, float32 in torch).
WAVE_TOL = 1e-5
FEATURE_TOL = 1e-4
#: The resampler: the page's float32 samples against audio.resample's.
RESAMPLE_TOL = 1e-6
REPORT: dict[str, object] = {}

def pack(values) -> str:
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f8").tobytes()).decode("ascii")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unpack(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f8").copy()


def make_signal(n: int, rate: int, seed: int = 0) -> np.ndarray:
    """float32-representable test audio: two tones, a chirp and noise."""
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * (200 * t + 1500 * t ** 2)) + 0.1 * rng.standard_normal(n)
    return x.astype(np.float32).astype(np.float64)


def wav_bytes(wave: np.ndarray, rate: int, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, wave, rate, subtype=subtype, format=fmt)
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------- toy models
class ToyWaveNet(torch.nn.Module):
    """(B, 1, N) waveform crops -> peak normalised -> conv, ReLU, mean -> 41 softmax probabilities."""

    def __init__(self, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv1d(1, 16, 64, stride=16)
        self.out = torch.nn.Linear(16, len(LABELS))

    def forward(self, x):
        x = x / torch.clamp(x.abs().amax(dim=2, keepdim=True), min=1e-8)
        h = torch.relu(self.conv(x)).mean(dim=2)
        return torch.softmax(4 * self.out(h), dim=1)


class ToyFeatureNet(torch.nn.Module):
    """(B, 1, F, T) dB crops -> standardised per crop -> conv, ReLU, mean -> 41 softmax probabilities."""

    def __init__(self, seed: int):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv2d(1, 8, 5, stride=2)
        self.out = torch.nn.Linear(8, len(LABELS))

    def forward(self, x):
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = torch.clamp(x.std(dim=(1, 2, 3), keepdim=True, unbiased=False), min=1e-3)
        h = torch.relu(self.conv((x - mean) / std)).mean(dim=(2, 3))
        return torch.softmax(4 * self.out(h), dim=1)


def export_onnx(model: torch.nn.Module, shape: tuple[int, ...], path: Path, fixed_batch: int | None = None) -> None:
    """``model`` as ONNX with a dynamic batch axis, or a fixed one of ``fixed_batch`` crops."""
    model.eval()
    dynamic = None if fixed_batch else {"input": {0: "batch"}, "probs": {0: "batch"}}
    with warnings.catch_warnings():          # the TorchScript exporter is deprecated; it is enough for toy models
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(fixed_batch or 2, *shape),), str(path), input_names=["input"],
                          output_names=["probs"], dynamic_axes=dynamic, opset_version=17, dynamo=False)


WAVE_FEATURES = FeatureConfig(kind="waveform", sample_rate=16000, normalize="peak")
LOGMEL_FEATURES = FeatureConfig(kind="logmel", sample_rate=22050, n_fft=1024, hop_length=256, n_mels=40, top_db=80.0,
                                image_size=None, standardize="clip", normalize="peak")
NETWORKS = [
    # name, title, features, crop (bank units), crop seconds, inference, model class
    ("1d", "1D toy", WAVE_FEATURES, 4000, 0.25, {"mode": "windows", "n_crops": None, "max_crops": 8, "short_clip": "repeat"},
     ToyWaveNet),
    ("2d", "2D toy", LOGMEL_FEATURES, 40, 0.46, {"mode": "windows", "n_crops": None, "max_crops": 4, "short_clip": "pad"},
     ToyFeatureNet),
]
#: Test clips of the manifest: (file name, label, rate, seconds, channels, subtype).
CLIPS = [("tone.wav", LABELS[0], 44100, 1.3, 1, "PCM_16"),
         ("short_stereo.wav", LABELS[1], 48000, 0.2, 2, "PCM_24"),
         ("float8k.wav", LABELS[2], 8000, 2.0, 1, "FLOAT")]


def clip_wave(rate: int, seconds: float, channels: int, seed: int) -> np.ndarray:
    n = int(rate * seconds)
    waves = [make_signal(n, rate, seed + c) * (0.9 - 0.3 * c) for c in range(channels)]
    return np.stack(waves, axis=1) if channels > 1 else waves[0]


# -------------------------------------------------------------------------------------------------------- site
@pytest.fixture(scope="module", autouse=True)
def print_report():
    yield
    print("\npage tagger measurements:")
    for key, value in REPORT.items():
        print(f"  {key}: {value}")


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory):
    site = tmp_path_factory.mktemp("tagger_site")
    static = site / "_static"
    shutil.copytree(STATIC / "explorers", static / "explorers")
    shutil.copytree(STATIC / "tagger", static / "tagger")
    scripts = ('<script src="{s}/explorers/dsp.js"></script>\n<script src="{s}/tagger/tagger.js?v=1234"></script>\n'
               '<link rel="stylesheet" href="{s}/tagger/tagger.css">\n')
    head = '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<link rel="icon" href="data:,">\n'
    (site / "dsp.html").write_text(head + '<script src="_static/explorers/dsp.js"></script>\n</head><body></body></html>\n')
    (site / "plain.html").write_text(head + scripts.format(s="_static") + "</head><body><p>no tagger</p></body></html>\n")

    models = static / "vendor" / "tagger"
    (models / "clips").mkdir(parents=True)
    runtime = 0
    if ORT_DIST.is_dir():
        (static / "vendor" / "onnxruntime-web").mkdir(parents=True)
        for name in RUNTIME_FILES:
            shutil.copy2(ORT_DIST / name, static / "vendor" / "onnxruntime-web" / name)
            runtime += (ORT_DIST / name).stat().st_size
    networks = []
    for name, title, cfg, crop, crop_s, inference, cls in NETWORKS:
        shape = (1, crop) if cfg.kind == "waveform" else (1, cfg.n_mels, crop)
        folds = []
        for fold in range(2):
            path = models / f"{name}_fold{fold}.onnx"
            # The waveform net's second fold has a fixed batch of 3 crops (the page pads its last batch).
            export_onnx(cls(seed=10 * fold + len(name)), shape, path, fixed_batch=3 if (name, fold) == ("1d", 1) else None)
            folds.append({"fold": fold, "file": path.name, "bytes": path.stat().st_size})
        features = json.loads(json.dumps(cfg.to_dict()))
        networks.append({"name": name, "title": title, "input": "waveform" if cfg.kind == "waveform" else "feature",
                         "features": features, "crop": crop, "crop_seconds": crop_s, "inference": inference,
                         "input_shape": list(shape), "weights": "float32", "folds": folds})
    clips = []
    for i, (fname, label, rate, seconds, channels, subtype) in enumerate(CLIPS):
        sf.write(models / "clips" / fname, clip_wave(rate, seconds, channels, seed=i), rate, subtype=subtype)
        clips.append({"file": f"clips/{fname}", "label": label, "fname": fname, "seconds": seconds})
    model_bytes = sum(f["bytes"] for n in networks for f in n["folds"])
    manifest = {"format": "audiotag-page-models/1", "classes": list(LABELS), "combine": "mean",
                "resampler": {"passband": AUDIO.RESAMPLE_PASSBAND, "stopband": AUDIO.RESAMPLE_STOPBAND,
                              "attenuation_db": AUDIO.RESAMPLE_ATTENUATION_DB},
                "networks": networks, "clips": clips, "bytes": {"models": model_bytes, "runtime": runtime}}
    (models / "tagger.json").write_text(json.dumps(manifest, indent=1))
    (site / "chapters").mkdir()
    panel = (f'<div class="audiotag-tagger" data-manifest="../_static/vendor/tagger/tagger.json" '
             f'data-bytes="{model_bytes + runtime}" data-record-seconds="1.5"></div>')
    (site / "chapters" / "tagger.html").write_text(head + scripts.format(s="../_static") +
                                                   f"</head><body><h1>Tag your own sound</h1>\n{panel}\n</body></html>\n")
    return site


@pytest.fixture(scope="module")
def manifest(site_dir) -> dict:
    return json.loads((site_dir / "_static" / "vendor" / "tagger" / "tagger.json").read_text())


@pytest.fixture(scope="module")
def dsp_page(browser, served_site):
    """One page with only dsp.js, shared by the numerical tests (they change nothing)."""
    with open_recorded_page(browser, served_site) as recorded:
        recorded.page.add_init_script(F64_HELPERS)
        recorded.goto("dsp.html")
        recorded.page.wait_for_function("typeof window.AudiotagDSP === 'object'")
        yield recorded.page
        recorded.log.assert_clean()


def needs_runtime():
    if not ORT_DIST.is_dir():
        pytest.skip("onnxruntime-web is not installed (npm ci)")


# ---------------------------------------------------------------------------------------------- resampling
JS_RESAMPLE = """([x, a, b]) => {
  const t0 = performance.now();
  const y = AudiotagDSP.resample(F64.unpack(x), a, b);
  return {y: F64.pack(y), type: y.constructor.name, ms: performance.now() - t0};
}"""
RATE_PAIRS = [(44100, 16000), (44100, 8000), (48000, 44100), (22050, 44100), (8000, 44100), (44100, 44100),
              (16000, 22050)]


def test_resampling_filter_matches_python(dsp_page):
    worst = 0.0
    for orig, target in RATE_PAIRS[:-2]:
        up, down = AUDIO.resampling_factors(orig, target)
        assert dsp_page.evaluate("([a, b]) => AudiotagDSP.resamplingFactors(a, b)", [orig, target]) == [up, down]
        taps = unpack(dsp_page.evaluate("([u, d]) => F64.pack(AudiotagDSP.resamplingFilter(u, d, 0.913, 1.0, 100))",
                                        [up, down]))
        ref = AUDIO.resampling_filter(up, down)
        assert taps.shape == ref.shape
        worst = max(worst, float(np.abs(taps - ref).max() / np.abs(ref).max()))
    REPORT["resampling filter, max |diff| / max tap"] = f"{worst:.2e}"
    assert worst < 1e-12
    for x in (0.5, 3.0, 10.06):
        from scipy.special import i0
        assert dsp_page.evaluate("x => AudiotagDSP.besselI0(x)", x) == pytest.approx(float(i0(x)), rel=1e-14)


@pytest.mark.parametrize("orig,target", RATE_PAIRS)
def test_resample_matches_python(dsp_page, orig, target):
    worst, differing = 0.0, 0
    for n in (1, 2, 37, orig // 3 + 7):
        x = make_signal(n, orig, seed=n)
        out = dsp_page.evaluate(JS_RESAMPLE, [pack(x), orig, target])
        assert out["type"] == "Float32Array"
        y, ref = unpack(out["y"]), AUDIO.resample(x, orig, target)
        assert y.shape == ref.shape, (n, y.shape, ref.shape)
        worst = max(worst, float(np.abs(y - ref).max()))
        differing += int((y.astype(np.float32) != ref).sum())
    REPORT[f"resample {orig} -> {target}: max |page - python|, float32 samples differing"] = f"{worst:.2e}, {differing}"
    assert worst <= RESAMPLE_TOL


def test_resample_refuses_bad_rates(dsp_page):
    for a, b in ((0, 16000), (44100.5, 16000)):
        message = dsp_page.evaluate("""([a, b]) => { try { AudiotagDSP.resample([0, 1], a, b); return ''; }
                                       catch (e) { return e.message; } }""", [a, b])
        assert "positive integers" in message


# ------------------------------------------------------------------------------------------- windows, crops
JS_CROPS = """([length, n, inference, policy]) => {
  const data = Float64Array.from({length}, (_, i) => i + 1);
  const starts = AudiotagDSP.windowStarts(length, n, inference);
  return {starts, crops: F64.pack(AudiotagDSP.gatherCrops(data, 1, length, starts, n, policy))};
}"""


def bank_crops(length: int, n: int, inference: dict, policy: str) -> np.ndarray:
    """ClipBank's crops of a ramp 1..length (so that each crop shows which units it took; 0 = padding)."""
    bank = ClipBank([torch.arange(1, length + 1, dtype=torch.float32)[None]], short_clip=policy)
    if inference["mode"] == "center":
        crops = bank.center_crops([0], n)
    else:
        crops = bank.window_crops([0], n, inference["n_crops"], inference["max_crops"]).data
    return crops[:, 0].numpy().astype(np.float64)


@pytest.mark.parametrize("policy", ["repeat", "pad"])
def test_windows_and_crops_match_clip_bank(dsp_page, policy):
    cases = 0
    for length in (1, 5, 29, 30, 31, 59, 60, 61, 89, 90, 99, 100, 101, 150, 257, 1000):
        for n in (10, 30, 60):
            for inference in ({"mode": "windows", "n_crops": None, "max_crops": 8},
                              {"mode": "windows", "n_crops": None, "max_crops": 3},
                              {"mode": "windows", "n_crops": 4, "max_crops": 8},
                              {"mode": "windows", "n_crops": 7, "max_crops": 5},
                              {"mode": "center", "n_crops": None, "max_crops": 8}):
                out = dsp_page.evaluate(JS_CROPS, [length, n, inference, policy])
                crops = unpack(out["crops"]).reshape(len(out["starts"]), n)
                np.testing.assert_array_equal(crops, bank_crops(length, n, inference, policy),
                                              err_msg=f"L={length} n={n} {inference} {policy}")
                cases += 1
    REPORT[f"window crops equal to ClipBank ({policy})"] = f"{cases} cases"


def test_window_starts_round_half_to_even(dsp_page):
    # linspace(0, 5, 3) = [0, 2.5, 5] and linspace(0, 7, 3) = [0, 3.5, 7]: numpy rounds 2.5 to 2 and 3.5 to 4.
    for length, n in ((15, 10), (17, 10)):
        inference = {"mode": "windows", "n_crops": 3, "max_crops": 8}
        starts = dsp_page.evaluate("([l, n, inf]) => AudiotagDSP.windowStarts(l, n, inf)", [length, n, inference])
        assert starts == np.linspace(0, length - n, 3).round().astype(int).tolist()
    assert dsp_page.evaluate("[0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 7].map(AudiotagDSP.roundHalfEven)") == \
        np.round([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999, 7]).tolist()


def test_multirow_crops_keep_the_feature_layout(dsp_page):
    """A (C, F, T) item crops every row at the same frames, like ClipBank with item shape (C, F)."""
    item = np.random.default_rng(3).standard_normal((2, 3, 23))
    out = dsp_page.evaluate("""([x, starts]) => F64.pack(AudiotagDSP.gatherCrops(F64.unpack(x), 6, 23, starts, 10,
                                                                                      'repeat'))""",
                            [pack(item), [0, 7, 13, 20]])
    bank = ClipBank([torch.as_tensor(item, dtype=torch.float64)], dtype=torch.float64)
    ref = bank._gather(torch.zeros(4, dtype=torch.long), torch.tensor([0, 7, 13, 20]), 10).numpy()
    np.testing.assert_array_equal(unpack(out).reshape(4, 2, 3, 10), ref.astype(np.float32).astype(np.float64))


def test_page_feature_settings_are_checked(dsp_page):
    check = "cfg => AudiotagDSP.pageFeatureProblems(cfg)"
    assert dsp_page.evaluate(check, json.loads(json.dumps(LOGMEL_FEATURES.to_dict()))) == []
    assert dsp_page.evaluate(check, json.loads(json.dumps(WAVE_FEATURES.to_dict()))) == []
    for change, word in ((dict(trim_silence=True), "trim_silence"), (dict(center=False), "center"),
                         (dict(mel_scale="htk_tf"), "mel_scale"), (dict(log="log_offset"), "log"),
                         (dict(magnitude=True), "magnitude"), (dict(win_length=512), "win_length")):
        cfg = json.loads(json.dumps(LOGMEL_FEATURES.replace(**change).to_dict()))
        problems = dsp_page.evaluate(check, cfg)
        assert any(word in p for p in problems), (change, problems)
    message = dsp_page.evaluate("""cfg => { try { AudiotagDSP.clipItem(new Float32Array(100), cfg); return ''; }
                                           catch (e) { return e.message; } }""",
                                json.loads(json.dumps(WAVE_FEATURES.replace(trim_silence=True).to_dict())))
    assert "trim_silence" in message


# ------------------------------------------------------------------------------------------------- decoding
JS_DECODE = """b => { const d = AudiotagDSP.decodeWavFloat32(F64.bytes(b));
  return {rate: d.sampleRate, channels: d.channels, type: d.samples.constructor.name, samples: F64.pack(d.samples)}; }"""


@pytest.mark.parametrize("subtype,channels", [("PCM_16", 1), ("PCM_16", 2), ("PCM_24", 2), ("PCM_32", 3),
                                              ("PCM_U8", 1), ("FLOAT", 2), ("DOUBLE", 1)])
def test_wav_decoding_matches_soundfile(dsp_page, tmp_path, subtype, channels):
    wave = clip_wave(22050, 0.1, channels, seed=7)
    path = tmp_path / "x.wav"
    sf.write(path, wave, 22050, subtype=subtype)
    out = dsp_page.evaluate(JS_DECODE, b64(path.read_bytes()))
    assert (out["rate"], out["channels"], out["type"]) == (22050, channels, "Float32Array")
    ref = AUDIO.load_audio(path, 22050)                            # no resampling at the file's own rate
    np.testing.assert_array_equal(unpack(out["samples"]), ref.astype(np.float64))


def test_sniffing_reads_the_header_rates(dsp_page, tmp_path):
    sniff = "b => AudiotagDSP.sniffAudio(F64.bytes(b))"
    wave = clip_wave(32000, 0.2, 2, seed=1)
    assert dsp_page.evaluate(sniff, b64(wav_bytes(wave, 32000))) == {"format": "wav", "sampleRate": 32000}
    for rate in (8000, 32000, 44100, 96000):
        flac = wav_bytes(clip_wave(rate, 0.2, 1, seed=2), rate, "PCM_16", "FLAC")
        assert dsp_page.evaluate(sniff, b64(flac)) == {"format": "flac", "sampleRate": rate, "bits": 16}
        id3 = b"ID3\x04\x00\x00\x00\x00\x00\x05" + b"\x00" * 5          # an ID3v2 tag of 5 bytes before the FLAC
        assert dsp_page.evaluate(sniff, b64(id3 + flac)) == {"format": "flac", "sampleRate": rate, "bits": 16}
    flac24 = wav_bytes(clip_wave(48000, 0.2, 1, seed=2), 48000, "PCM_24", "FLAC")
    assert dsp_page.evaluate(sniff, b64(flac24)) == {"format": "flac", "sampleRate": 48000, "bits": 24}
    ogg = wav_bytes(clip_wave(22050, 0.5, 1, seed=3), 22050, "VORBIS", "OGG")
    assert dsp_page.evaluate(sniff, b64(ogg)) == {"format": "vorbis", "sampleRate": 22050}
    assert dsp_page.evaluate(sniff, b64(b"these are my notes, not audio")) == {"format": "other", "sampleRate": None}
    assert dsp_page.evaluate(sniff, b64(b"")) == {"format": "other", "sampleRate": None}


JS_TAGGER_DECODE = """async ([b, name]) => {
  try {
    const d = await AudiotagTagger.decode(F64.bytes(b), name);
    return {rate: d.rate, decoder: d.decoder, note: d.note, type: d.wave.constructor.name, wave: F64.pack(d.wave)};
  } catch (e) { return {error: e.message}; }
}"""


@pytest.fixture(scope="module")
def plain_page(browser, served_site):
    """A page with dsp.js and tagger.js but no panel (tagger.js's decoding, shared by tests that change nothing)."""
    with open_recorded_page(browser, served_site) as recorded:
        recorded.page.add_init_script(F64_HELPERS)
        recorded.goto("plain.html")
        recorded.page.wait_for_function("typeof window.AudiotagTagger === 'object'")
        yield recorded
        recorded.log.assert_clean()


@pytest.mark.parametrize("fmt,subtype,channels,rate", [("FLAC", "PCM_16", 2, 32000), ("FLAC", "PCM_S8", 1, 22050),
                                                       ("FLAC", "PCM_24", 2, 48000), ("WAV", "PCM_16", 2, 11025),
                                                       ("WAV", "FLOAT", 1, 96000)])
def test_page_decoding_matches_load_audio(plain_page, tmp_path, fmt, subtype, channels, rate):
    """tagger.js's decoding (our WAV parser, the browser's FLAC decoder at the file's rate with libsndfile's 16-bit
    scaling restored) gives load_audio's float32 samples at the file's own rate, bit for bit."""
    path = tmp_path / f"x.{fmt.lower()}"
    wave = clip_wave(rate, 0.3, channels, seed=9)
    wave[:5] = [1.0, -1.0, 0.5, -0.5, 0.0] if channels == 1 else [[1.0, -1.0]] * 5
    sf.write(path, wave, rate, subtype=subtype, format=fmt)
    out = plain_page.page.evaluate(JS_TAGGER_DECODE, [b64(path.read_bytes()), path.name])
    assert "error" not in out, out
    assert (out["rate"], out["type"], out["note"]) == (rate, "Float32Array", "")
    assert out["decoder"] == ("wav" if fmt == "WAV" else "browser (flac)")
    np.testing.assert_array_equal(unpack(out["wave"]), AUDIO.load_audio(path, rate).astype(np.float64))


def test_page_decoding_of_other_formats(plain_page, tmp_path):
    """Ogg Vorbis is decoded by the browser at its header's rate (decoders differ slightly: compared loosely); bytes
    that are no audio get the file's name and the reason."""
    path = tmp_path / "x.ogg"
    sf.write(path, clip_wave(22050, 0.5, 1, seed=9), 22050, subtype="VORBIS", format="OGG")
    out = plain_page.page.evaluate(JS_TAGGER_DECODE, [b64(path.read_bytes()), path.name])
    assert (out["rate"], out["decoder"]) == (22050, "browser (vorbis)")
    page_wave, ref = unpack(out["wave"]), AUDIO.load_audio(path, 22050)
    n = min(len(page_wave), len(ref))
    assert abs(len(page_wave) - len(ref)) < 2048 and np.abs(page_wave[:n] - ref[:n]).max() < 1e-2
    out = plain_page.page.evaluate(JS_TAGGER_DECODE, [b64(b"no audio here" * 10), "notes.wav"])
    assert out["error"].startswith("notes.wav: not audio the browser can decode (")


# -------------------------------------------------------------------------------------------- probabilities
def test_combination_and_top_labels_match_python(dsp_page):
    rng = np.random.default_rng(5)
    a, b = rng.dirichlet(np.ones(41)), rng.dirichlet(np.ones(41))
    out = dsp_page.evaluate("([a, b]) => F64.pack(AudiotagDSP.combineMean([F64.unpack(a), F64.unpack(b)]))",
                            [pack(a), pack(b)])
    np.testing.assert_allclose(unpack(out), arithmetic_mean([a[None], b[None]])[0], rtol=0, atol=1e-15)
    means = unpack(dsp_page.evaluate("([a, b]) => F64.pack(AudiotagDSP.meanOf([F64.unpack(a), F64.unpack(b)]))",
                                     [pack(a), pack(b)]))
    np.testing.assert_allclose(means, (a + b) / 2, rtol=0, atol=1e-16)
    ties = np.array([0.1, 0.3, 0.05, 0.3, 0.2, 0.05])
    top = dsp_page.evaluate("p => AudiotagDSP.topIndices(p, 4)", ties.tolist())
    assert top == np.argsort(-ties, kind="stable")[:4].tolist() == [1, 3, 4, 0]


# -------------------------------------------------------------------------------------------- python reference
def python_tagging(path: Path, manifest: dict, site: Path) -> dict:
    """What audiotag predict computes with these ONNX models: load_audio at each network's rate, the clip item,
    ClipBank's windows, onnxruntime, mean over windows, folds, and networks (arithmetic_mean)."""
    import onnxruntime

    out, per_network = {}, []
    for net in manifest["networks"]:
        cfg = FeatureConfig.from_dict(net["features"])
        wave = AUDIO.load_audio(path, cfg.sample_rate)
        inference = net["inference"]
        bank = ClipBank([InputPipeline(cfg).clip_item(wave)], short_clip=inference["short_clip"])
        if inference["mode"] == "center":
            crops = bank.center_crops([0], net["crop"])
        else:
            crops = bank.window_crops([0], net["crop"], inference["n_crops"], inference["max_crops"]).data
        folds = []
        for fold in net["folds"]:
            session = onnxruntime.InferenceSession(str(site / "_static" / "vendor" / "tagger" / fold["file"]))
            x = crops.numpy().astype(np.float32)
            batch = session.get_inputs()[0].shape[0]
            if isinstance(batch, int):                         # a fixed batch: zero crops fill the last one
                x = np.concatenate([x, np.zeros((-len(x) % batch, *x.shape[1:]), np.float32)])
                probs = np.concatenate([session.run(None, {"input": x[i:i + batch]})[0]
                                        for i in range(0, len(x), batch)])[:len(crops)]
            else:
                probs = session.run(None, {"input": x})[0]
            folds.append(probs.mean(axis=0))
        out[net["name"]] = {"folds": np.array(folds), "probs": np.mean(folds, axis=0), "windows": len(crops)}
        per_network.append(out[net["name"]]["probs"][None])
    out["combined"] = arithmetic_mean(per_network)[0]
    return out


def compare(result: dict, reference: dict, label: str) -> dict[str, float]:
    diffs = {}
    for name, tol in (("1d", WAVE_TOL), ("2d", FEATURE_TOL)):
        page = result["networks"][name]
        assert len(page["starts"]) == reference[name]["windows"], name
        diffs[name] = float(np.abs(np.array(page["folds"]) - reference[name]["folds"]).max())
        assert diffs[name] < tol, (label, name, diffs[name])
        np.testing.assert_allclose(page["probs"], reference[name]["probs"], rtol=0, atol=tol)
    diffs["combined"] = float(np.abs(np.array(result["probs"]) - reference["combined"]).max())
    assert diffs["combined"] < FEATURE_TOL
    order = np.argsort(-np.asarray(result["probs"]), kind="stable")[:3]
    assert [t["label"] for t in result["top"]] == [LABELS[i] for i in order]
    REPORT[f"page vs python ({label}), max |diff| per network / combined"] = \
        ", ".join(f"{k} {v:.1e}" for k, v in diffs.items())
    return diffs


# ------------------------------------------------------------------------------------------------ the panel
PANEL = ".audiotag-tagger"


def state(page) -> str:
    return page.eval_on_selector(PANEL, "p => p.dataset.state")


def runs(page) -> int:
    return int(page.eval_on_selector(PANEL, "p => p.dataset.runs || 0"))


def wait_for_run(page, before: int, timeout: float = 60_000) -> str:
    page.wait_for_function(f"Number(document.querySelector('{PANEL}').dataset.runs || 0) > {before}", timeout=timeout)
    return state(page)


def result(page) -> dict:
    return page.eval_on_selector(PANEL, "p => p.audiotagResult")


def load_panel(recorded) -> None:
    recorded.goto("chapters/tagger.html")
    page = recorded.page
    page.wait_for_selector(".audiotag-tagger-load")
    assert state(page) == "idle"
    page.click(".audiotag-tagger-load")
    page.wait_for_function(f"['ready', 'error'].includes(document.querySelector('{PANEL}').dataset.state)",
                           timeout=60_000)
    assert state(page) == "ready", page.text_content(".audiotag-tagger-error")


def test_nothing_loads_before_the_click(recorded_page, manifest):
    needs_runtime()
    recorded_page.goto("plain.html")
    recorded_page.page.wait_for_load_state("load")
    assert recorded_page.page.evaluate("typeof window.AudiotagTagger") == "object"
    recorded_page.goto("chapters/tagger.html")
    page = recorded_page.page
    page.wait_for_selector(".audiotag-tagger-load")
    page.wait_for_timeout(300)
    label = page.text_content(".audiotag-tagger-load")
    assert label.startswith("Load the networks (") and label.endswith(" MB)")
    assert page.is_hidden(".audiotag-tagger-controls") and page.is_hidden(".audiotag-tagger-error")
    fetched = [u.split("/", 3)[-1] for u in recorded_page.log.requests]
    assert not [u for u in fetched if "vendor/" in u or "worker" in u], fetched
    assert state(page) == "idle"
    recorded_page.log.assert_clean()


def test_panel_tags_test_clips_like_python(recorded_page, manifest, site_dir):
    needs_runtime()
    load_panel(recorded_page)
    page = recorded_page.page
    assert page.eval_on_selector(".audiotag-tagger-clips", "s => s.options.length") == len(CLIPS) + 1
    for i, (fname, label, rate, seconds, channels, _) in enumerate(CLIPS):
        before = runs(page)
        page.select_option(".audiotag-tagger-clips", str(i))
        assert wait_for_run(page, before) == "done", page.text_content(".audiotag-tagger-error")
        r = result(page)
        assert (r["file"], r["label"], r["source"], r["sample_rate"]) == (fname, label, "clip", rate)
        assert r["decoder"] == "wav"
        assert r["duration_s"] == pytest.approx(int(rate * seconds) / rate)
        assert len(r["probs"]) == 41 and set(r["networks"]) == {"1d", "2d"}
        assert all(len(r["networks"][n]["folds"]) == 2 for n in ("1d", "2d"))
        assert r["networks"]["1d"]["crop"] == 4000 and r["seconds"] > 0
        compare(r, python_tagging(site_dir / "_static" / "vendor" / "tagger" / "clips" / fname, manifest, site_dir),
                fname)
        REPORT[f"wall time of {fname} ({seconds} s)"] = f"{r['seconds']:.3f} s"
        assert page.eval_on_selector(".audiotag-tagger-spectrogram", "c => c.height") > 128
        assert len(page.query_selector_all(".audiotag-tagger-top li")) == 3
    recorded_page.log.assert_clean()


def test_panel_tags_files_chosen_and_dropped(recorded_page, manifest, site_dir, tmp_path):
    needs_runtime()
    load_panel(recorded_page)
    page = recorded_page.page
    # A chosen FLAC file (decoded by the browser at its own 32 kHz) ...
    flac = tmp_path / "bird song.flac"
    sf.write(flac, clip_wave(32000, 0.9, 2, seed=11), 32000, subtype="PCM_16")
    before = runs(page)
    page.set_input_files(".audiotag-tagger-file", str(flac))
    assert wait_for_run(page, before) == "done", page.text_content(".audiotag-tagger-error")
    r = result(page)
    assert (r["file"], r["sample_rate"], r["decoder"], r["source"]) == ("bird song.flac", 32000, "browser (flac)", "file")
    compare(r, python_tagging(flac, manifest, site_dir), "dropped FLAC")
    # ... and a dropped long WAV (10 s: the timing of a long clip).
    long = tmp_path / "ten seconds.wav"
    sf.write(long, clip_wave(44100, 10.0, 1, seed=12), 44100, subtype="PCM_16")
    before = runs(page)
    drop(page, long.read_bytes(), long.name)
    assert wait_for_run(page, before) == "done", page.text_content(".audiotag-tagger-error")
    r = result(page)
    assert r["file"] == long.name and r["duration_s"] == pytest.approx(10.0)
    assert len(r["networks"]["1d"]["starts"]) == 8 and len(r["networks"]["2d"]["starts"]) == 4
    compare(r, python_tagging(long, manifest, site_dir), "dropped 10 s WAV")
    REPORT["wall time of a 10 s WAV (toy models)"] = f"{r['seconds']:.3f} s"
    recorded_page.log.assert_clean()


def drop(page, data: bytes, name: str) -> None:
    transfer = page.evaluate_handle("""([b, name]) => {
      const raw = atob(b), bytes = new Uint8Array(raw.length);
      for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name));
      return dt;
    }""", [b64(data), name])
    page.dispatch_event(".audiotag-tagger-drop", "drop", {"dataTransfer": transfer})


def test_undecodable_files_are_named_and_nothing_breaks(recorded_page, manifest, tmp_path):
    needs_runtime()
    load_panel(recorded_page)
    page = recorded_page.page
    cases = [("notes.wav", b"these are my notes, not audio\n" * 20, "notes.wav: not audio the browser can decode ("),
             ("broken.wav", b"RIFF\x10\x00\x00\x00WAVEjunk\x00\x00\x00\x00",
              "broken.wav: not audio the browser can decode (WAV file without fmt or data chunk)"),
             ("empty.flac", b"", "empty.flac: empty file (0 bytes)"),
             ("silence.wav", wav_bytes(np.zeros(0), 16000), "silence.wav: zero-length audio (no samples)"),
             ("long.wav", wav_bytes(np.zeros(8000 * 301), 8000), "long.wav: 5.0 minutes is more than the page tags")]
    for name, data, message in cases:
        before = runs(page)
        path = tmp_path / name
        path.write_bytes(data)
        page.set_input_files(".audiotag-tagger-file", str(path))
        assert wait_for_run(page, before) == "error"
        assert page.text_content(".audiotag-tagger-error").startswith(message)
    # Still working: a good file after the bad ones.
    good = tmp_path / "good.wav"
    sf.write(good, clip_wave(16000, 0.5, 1, seed=4), 16000)
    before = runs(page)
    page.set_input_files(".audiotag-tagger-file", str(good))
    assert wait_for_run(page, before) == "done"
    assert page.is_hidden(".audiotag-tagger-error")
    recorded_page.log.assert_clean()


def test_a_broken_manifest_is_reported(browser, served_site, site_dir):
    needs_runtime()
    page_path = site_dir / "chapters" / "missing.html"
    page_path.write_text((site_dir / "chapters" / "tagger.html").read_text().replace("tagger.json", "nothing.json"))
    with open_recorded_page(browser, served_site) as recorded:
        recorded.goto("chapters/missing.html")
        recorded.page.click(".audiotag-tagger-load")
        recorded.page.wait_for_function(f"document.querySelector('{PANEL}').dataset.state === 'error'", timeout=30_000)
        text = recorded.page.text_content(".audiotag-tagger-error")
        assert "could not be loaded" in text and "nothing.json" in text and "404" in text
        assert recorded.page.text_content(".audiotag-tagger-load").startswith("Try again")
        foreign = recorded.log.foreign_requests()
        assert not foreign and not recorded.log.page_errors       # the 404 itself is the expected console error


def test_a_page_opened_from_a_file_says_to_serve_the_site(browser, site_dir):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto((site_dir / "chapters" / "tagger.html").as_uri())
        page.wait_for_selector(".audiotag-tagger-error")
        assert state(page) == "error"
        assert "python -m http.server -d _build/html" in page.text_content(".audiotag-tagger-error")
        assert page.is_disabled(".audiotag-tagger-load")
    finally:
        context.close()


def test_recording_from_a_fake_microphone(browser, site_dir, manifest, tmp_path):
    """Chromium's fake capture device plays a WAV file as the microphone; the panel records it at the audio
    context's rate and tags it (stopped by hand, then by the panel's limit, data-record-seconds=1.5)."""
    needs_runtime()
    from browser_support import chromium_executable, serve_directory

    capture = tmp_path / "microphone.wav"
    sf.write(capture, clip_wave(48000, 3.0, 1, seed=21), 48000, subtype="PCM_16")
    args = list(CHROMIUM_ARGS) + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                                  f"--use-file-for-fake-audio-capture={capture}",
                                  "--autoplay-policy=no-user-gesture-required"]
    mic_browser = browser.browser_type.launch(executable_path=chromium_executable(), args=args, headless=True)
    try:
        with serve_directory(site_dir) as origin, open_recorded_page(mic_browser, origin) as recorded:
            load_panel(recorded)
            page = recorded.page
            before = runs(page)
            page.click(".audiotag-tagger-record")
            page.wait_for_function(f"document.querySelector('{PANEL}').dataset.state === 'recording'")
            page.wait_for_selector(".audiotag-tagger-stop", state="visible")
            page.wait_for_timeout(700)
            page.click(".audiotag-tagger-stop")
            assert wait_for_run(page, before) == "done", page.text_content(".audiotag-tagger-error")
            r = result(page)
            rate = page.evaluate("(() => { const c = new AudioContext(); const r = c.sampleRate; c.close(); return r; })()")
            assert r["source"] == "microphone" and r["sample_rate"] == rate
            assert 0.2 < r["duration_s"] < 1.5
            assert max(r["probs"]) > 0 and len(r["top"]) == 3
            REPORT["fake microphone: recorded at, seconds (stopped by hand)"] = f"{rate} Hz, {r['duration_s']:.2f} s"
            # Left alone, the recording stops at the panel's limit.
            before = runs(page)
            page.click(".audiotag-tagger-record")
            assert wait_for_run(page, before, timeout=30_000) == "done"
            assert result(page)["duration_s"] == pytest.approx(1.5, abs=1e-9)
            assert page.is_hidden(".audiotag-tagger-stop") and page.is_visible(".audiotag-tagger-record")
            recorded.log.assert_clean()
    finally:
        mic_browser.close()
