"""The book's in-page explorers (``audiotag/book/static/explorers/``; HTML from ``audiotag.book.explorer_page``) in
headless Chromium.

A temporary site holds the shipped files and two pages: ``dsp.html`` (only the scripts, for the numerics) and
``index.html`` (a feature explorer and an augmentation explorer over synthetic clips made here with numpy). The
browser is Debian's Chromium driven by Playwright (skipped when either is missing), served from a loopback
server; every page test also checks that the page logs no console or page error and requests nothing outside
the local server.

Numerical tolerances (the page computes in float64), in dB (MFCC units for MFCCs), over every cell:

* against audiotag's functional API in float64 (``log_mel``, ``mfcc``, ``log_spectrogram``, ``multires_logmel`` with
  librosa's float64 window, filterbank and DCT): ``EXACT_TOL`` = 1e-9;
* against ``FeatureExtractor`` on float64 input, whose window / filterbank / DCT buffers are float32:
  ``F64_TOL`` = 1e-3;
* against ``FeatureExtractor`` on float32 input (what training uses): ``F32_DB_TOL`` = 0.1 dB on cells above the
  top_db floor (log-mel, spectrogram, multires), ``F32_MFCC_TOL`` = 0.1 on MFCCs.

The measured maxima are printed (``pytest -s``).
"""
from __future__ import annotations

import base64
import io
import json
import re
import shutil
import time
import wave as wavfile

import numpy as np
import pytest
import torch

from browser_support import (F64_HELPERS, browser, open_recorded_page, recorded_page,  # noqa: F401  (fixtures)
                             served_site)

from audiotag.book import explorer_page as pages
from audiotag.data import audio as AUDIO
from audiotag.features import augment as AUGMENT
from audiotag.features import spectral as FEATURES
from audiotag.features.config import FeatureConfig

DEFAULTS = pages.load_defaults()
SR = DEFAULTS["sample_rate"]
EXACT_TOL = 1e-9
F64_TOL = 1e-3
F32_DB_TOL = 0.1
F32_MFCC_TOL = 0.1
#: Upper bound on the test page (HTML + scripts + CSS), bytes.
MAX_PAGE_BYTES = 1_500_000
#: Measured numbers, printed by the tests (``pytest -s``).
REPORT: dict[str, object] = {}


# ----------------------------------------------------------------------------------------------------- signals
def synthetic_clips(seconds: float = DEFAULTS["clip_seconds"]) -> list[tuple[str, np.ndarray, int]]:
    """Three clips of different 'classes' at 44.1 kHz (the page resamples them to its rate): a harmonic tone, a
    rising chirp and noise bursts."""
    rate = 44100
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(0)
    tone = 0.4 * np.sin(2 * np.pi * 330 * t) + 0.2 * np.sin(2 * np.pi * 660 * t) + 0.1 * np.sin(2 * np.pi * 990 * t)
    chirp = 0.5 * np.sin(2 * np.pi * (200 * t + 1200 * t ** 2))
    bursts = 0.3 * rng.standard_normal(len(t)) * ((t % 0.5) < 0.15)
    return [("tone", tone, rate), ("chirp", chirp, rate), ("noise bursts", bursts, rate)]


def make_test_signal(seconds: float = 1.0) -> np.ndarray:
    """A float64 test signal at the explorers' rate: a tone, a chirp to 6 kHz, a noise burst, a click and a silent
    tail (so that the top_db floor and the amin floor both matter)."""
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(1)
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * (300 * t + 2850 * t ** 2))
    x += 0.25 * rng.standard_normal(len(t)) * ((t > 0.35) & (t < 0.5))
    x[int(0.6 * SR)] += 0.9
    x[t > 0.8] = 0.0
    return x


def wav_file_bytes(samples: np.ndarray, rate: int, channels: int = 1) -> bytes:
    """A 16-bit WAV of ``samples`` ((n,) or (n, channels))."""
    data = np.round(np.clip(samples, -1, 1) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wavfile.open(buf, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(data.tobytes())
    return buf.getvalue()


def decode_pcm16(wav: bytes) -> np.ndarray:
    """The samples of a mono 16-bit WAV as int / 32768 (how browsers and libsndfile read them)."""
    with wavfile.open(io.BytesIO(wav)) as f:
        return np.frombuffer(f.readframes(f.getnframes()), dtype="<i2").astype(np.float64) / 32768.0


# ------------------------------------------------------------------------------------------------ references
def feature_settings(**changes) -> dict:
    """defaults.json's feature section with ``changes``, restricted to FeatureConfig's fields."""
    cfg = {k: v for k, v in DEFAULTS["feature"].items() if k in FeatureConfig.__dataclass_fields__}
    cfg.update(sample_rate=SR, **changes)
    return cfg


def python_feature(wave: np.ndarray, settings: dict, dtype=torch.float64) -> np.ndarray:
    """audiotag's FeatureExtractor (via compute_features, no standardisation, no resizing): (C, F, T). Its window,
    mel filterbank and DCT are float32 buffers even for float64 input."""
    s = dict(settings)
    s["multires_windows"] = tuple(s["multires_windows"])
    cfg = FeatureConfig(**s, image_size=None, standardize="none")
    return FEATURES.compute_features(torch.as_tensor(np.asarray(wave), dtype=dtype), cfg).double().numpy()


def exact_feature(wave: np.ndarray, settings: dict) -> np.ndarray:
    """The same feature from audiotag's functional API entirely in float64 (constants built in the input's dtype,
    i.e. librosa's float64 window, filterbank and DCT): (C, F, T)."""
    s = settings
    x = FEATURES.normalize_waves(torch.as_tensor(np.asarray(wave), dtype=torch.float64), s["normalize"])
    common = dict(hop_length=s["hop_length"], window="hamming", amin=s["amin"], top_db=s["top_db"])
    if s["kind"] == "multires":
        return FEATURES.multires_logmel(x, s["sample_rate"], tuple(s["multires_windows"]), s["hop_length"], "hamming",
                                        s["n_mels"], s["fmin"], s["fmax"], s["amin"], s["top_db"]).numpy()
    if s["kind"] == "spectrogram":
        out = FEATURES.log_spectrogram(x, n_fft=s["spectrogram_n_fft"], **common)
    elif s["kind"] == "logmel":
        out = FEATURES.log_mel(x, s["sample_rate"], s["n_fft"], n_mels=s["n_mels"], fmin=s["fmin"], fmax=s["fmax"],
                               **common)
    else:
        out = FEATURES.mfcc(x, s["sample_rate"], s["n_mfcc"], s["n_fft"], n_mels=s["n_mels"], fmin=s["fmin"],
                            fmax=s["fmax"], **common)
    return out[None].numpy()


JS_FEATURE = """([wave, cfg]) => {
  const f = AudiotagDSP.computeFeature(F64.unpack(wave), cfg);
  return {shape: [f.channels, f.rows, f.frames], data: F64.pack(f.data)};
}"""


def pack(values) -> str:
    """float64 values as base64 for ``F64.unpack``."""
    return base64.b64encode(np.ascontiguousarray(values, dtype="<f8").tobytes()).decode("ascii")


def js_feature(page, wave: np.ndarray, settings: dict) -> np.ndarray:
    out = page.evaluate(JS_FEATURE, [pack(wave), settings])
    return js_array(out["data"]).reshape(out["shape"])


def js_array(value) -> np.ndarray:
    """An array from the page: ``F64.pack``'s base64 text, or a plain list."""
    if isinstance(value, str):
        return np.frombuffer(base64.b64decode(value), dtype="<f8").astype(np.float64)
    return np.asarray(value, dtype=np.float64)


# -------------------------------------------------------------------------------------------------------- site
@pytest.fixture(scope="module", autouse=True)
def print_report():
    """Print what the tests measured when the module is done (visible with ``pytest -s``)."""
    yield
    print("\nexplorer measurements:")
    for key, value in REPORT.items():
        print(f"  {key}: {value}")


@pytest.fixture(scope="module")
def explorer_fragments():
    clips = synthetic_clips()
    return {"feature": pages.feature_explorer_html(clips), "augment": pages.augment_explorer_html(clips)}


@pytest.fixture(scope="module")
def site_dir(tmp_path_factory, explorer_fragments):
    site = tmp_path_factory.mktemp("explorer_site")
    shutil.copytree(pages.ASSET_DIR, site / "_static" / "explorers")
    (site / "index.html").write_text(pages.standalone_page(explorer_fragments["feature"], explorer_fragments["augment"],
                                                           title="explorers"), encoding="utf-8")
    (site / "dsp.html").write_text(pages.standalone_page(title="dsp"), encoding="utf-8")
    return site


@pytest.fixture(scope="module")
def dsp_page(browser, served_site):
    """One page with only the scripts, shared by the numerical tests (they change nothing)."""
    with open_recorded_page(browser, served_site) as recorded:
        recorded.page.add_init_script(F64_HELPERS)
        recorded.goto("dsp.html")
        recorded.page.wait_for_function("typeof window.AudiotagDSP === 'object'")
        yield recorded.page
        recorded.log.assert_clean()


def open_explorers(recorded) -> None:
    recorded.page.add_init_script(F64_HELPERS)
    recorded.goto("index.html")
    recorded.page.wait_for_function(
        "document.querySelectorAll('.audiotag-explorer[data-state=ready]').length === 2", timeout=30_000)


SET_CONTROL = """([kind, name, value]) => {
  const root = document.querySelector(`.audiotag-explorer[data-kind="${kind}"]`);
  const input = root.querySelector(`[data-control="${name}"]`);
  if (!input) throw new Error(`no control ${name}`);
  if (input.disabled) throw new Error(`control ${name} is disabled`);
  if (input.tagName === 'BUTTON') { input.click(); return; }
  input.value = String(value);
  if (input.value !== String(value)) throw new Error(`control ${name} refused ${value} (has ${input.value})`);
  input.dispatchEvent(new Event('input', {bubbles: true}));
  input.dispatchEvent(new Event('change', {bubbles: true}));
}"""
#: A fingerprint of an explorer's canvas pixels (FNV-1a over the RGBA bytes, and the size).
CANVAS = """kind => {
  const c = document.querySelector(`.audiotag-explorer[data-kind="${kind}"] canvas`);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let h = 0x811c9dc5;
  for (let i = 0; i < d.length; i++) { h ^= d[i]; h = Math.imul(h, 0x01000193); }
  return `${c.width}x${c.height}:${(h >>> 0).toString(16)}`;
}"""
DRAWS = "kind => Number(document.querySelector(`.audiotag-explorer[data-kind=\"${kind}\"]`).dataset.draws || 0)"


def wait_for_draw(page, kind: str, before: int, timeout: float = 20_000) -> None:
    page.wait_for_function(f"({DRAWS})({json.dumps(kind)}) > {before}", timeout=timeout)


def change_and_compare(page, kind: str, name: str, value) -> tuple[str, str]:
    """Set a control, wait for the redraw, return the canvas before and after."""
    before, draws = page.evaluate(CANVAS, kind), page.evaluate(DRAWS, kind)
    page.evaluate(SET_CONTROL, [kind, name, value])
    wait_for_draw(page, kind, draws)
    return before, page.evaluate(CANVAS, kind)


# ------------------------------------------------------------------------------------------------- no browser
def test_explorer_html_embeds_defaults_and_clips_without_script_src(explorer_fragments):
    for kind, fragment in explorer_fragments.items():
        assert f'<div class="audiotag-explorer" data-kind="{kind}">' in fragment
        assert not re.search(r"<script[^>]*\bsrc=", fragment), "the book loads the scripts; fragments must not"
        config = json.loads(re.search(r'<script type="application/json">(.*?)</script>', fragment, re.S).group(1))
        assert config["defaults"] == DEFAULTS                        # one source of defaults
        clips = synthetic_clips()
        assert [c["label"] for c in config["clips"]] == [c[0] for c in clips]
        resample = AUDIO.resample
        for entry, (_, wave, rate) in zip(config["clips"], clips):
            samples = decode_pcm16(base64.b64decode(entry["wav"]))
            expected = resample(wave.astype(np.float32), rate, SR)[: int(DEFAULTS["clip_seconds"] * SR)]
            assert entry["sample_rate"] == SR and len(samples) == len(expected)
            assert np.abs(samples - expected).max() < 2 / 32768
        REPORT[f"{kind} explorer bytes (3 clips of 2 s)"] = pages.page_weight(fragment)
    with pytest.raises(ValueError, match="unknown feature explorer setting"):
        pages.feature_explorer_html(synthetic_clips(), n_mel=64)
    with pytest.raises(ValueError, match="at least 2"):
        pages.augment_explorer_html(synthetic_clips()[:1])
    mfcc = pages.feature_explorer_html(synthetic_clips()[:1], kind="mfcc", n_mfcc=20)
    assert '"kind":"mfcc"' in mfcc and '"n_mfcc":20' in mfcc
    assert "<script>" in pages.feature_explorer_html(synthetic_clips()[:1], inline_assets=True)


def test_example_clips_picks_loud_excerpts_of_different_classes(tmp_path):
    write_audio = AUDIO.write_audio

    rate = 44100
    rows = []
    for ci, label in enumerate(["Bark", "Cello", "Knock"]):
        for j in range(2):
            wave = np.zeros(3 * rate, dtype=np.float32)
            start = rate * (1 + j) // 2
            t = np.arange(rate // 2) / rate
            wave[start:start + len(t)] = 0.5 * np.sin(2 * np.pi * 200 * (ci + 1) * t)
            write_audio(tmp_path / f"{label}{j}.wav", wave, rate)
            rows.append(f"{label}{j}.wav,{label}")
    (tmp_path / "labels.csv").write_text("fname,label\n" + "\n".join(rows) + "\n")
    clips = pages.example_clips(tmp_path, n=3)
    assert [c[0] for c in clips] == ["Bark", "Cello", "Knock"]
    for _, wave, rate_out in clips:
        assert rate_out == SR and len(wave) == int(DEFAULTS["clip_seconds"] * SR)
        assert np.sum(wave.astype(np.float64) ** 2) > 0.9 * 0.125 * 0.5 * SR    # the whole burst is in the excerpt
    assert [c[0] for c in pages.example_clips(tmp_path, labels=["Knock"], seconds=0.5)] == ["Knock"]


# ---------------------------------------------------------------------------------------------------- numerics
def test_dsp_building_blocks_match_torch_librosa_and_numpy(dsp_page):
    """Window vs torch.hamming_window(periodic=True), mel filterbank vs librosa.filters.mel (via
    audiotag.features.mel_filterbank), DCT vs scipy's orthonormal DCT-II, real FFT vs numpy.fft.rfft: relative
    errors <= 1e-12."""
    page = dsp_page
    for n in (512, 2048, 16384):
        js = js_array(page.evaluate("n => F64.pack(AudiotagDSP.hammingWindow(n))", n))
        assert np.abs(js - FEATURES.make_window("hamming", n, dtype=torch.float64).numpy()).max() < 1e-12
        assert np.abs(js - torch.hamming_window(n, periodic=True, dtype=torch.float64).numpy()).max() < 1e-12
    worst = 0.0
    for sr, n_fft, n_mels, fmin, fmax in [(SR, 2048, 128, 0.0, None), (SR, 512, 40, 0.0, None),
                                          (44100, 1024, 64, 50.0, 8000.0), (SR, 16384, 256, 0.0, None)]:
        js = page.evaluate("a => { const fb = AudiotagDSP.melFilterbankDense(...a); return [fb.rows, fb.cols, F64.pack(fb.data)]; }",
                           [sr, n_fft, n_mels, fmin, fmax])
        ref = FEATURES.mel_filterbank(sr, n_fft, n_mels, fmin, fmax, dtype=torch.float64).numpy()
        got = js_array(js[2]).reshape(js[0], js[1])
        worst = max(worst, np.abs(got - ref).max() / np.abs(ref).max())
    assert worst < 1e-12
    REPORT["mel filterbank max relative error"] = worst
    js = page.evaluate("a => F64.pack(AudiotagDSP.dctMatrix(...a).data)", [40, 128])
    assert np.abs(js_array(js).reshape(40, 128) - FEATURES.dct_matrix(40, 128, dtype=torch.float64).numpy()).max() < 1e-12
    rng = np.random.default_rng(2)
    worst = 0.0
    for n in (2, 4, 8, 256, 1024, 16384):
        x = rng.standard_normal(n)
        out = page.evaluate("x => { const r = AudiotagDSP.rfft(F64.unpack(x)); return [F64.pack(r.re), F64.pack(r.im)]; }",
                            pack(x))
        ref = np.fft.rfft(x)
        worst = max(worst, np.abs(js_array(out[0]) + 1j * js_array(out[1]) - ref).max() / np.abs(ref).max())
    assert worst < 1e-12
    REPORT["rfft max relative error"] = worst


CASES = {
    "logmel": dict(kind="logmel", normalize="none"),
    "mfcc": dict(kind="mfcc", normalize="none"),
    "spectrogram": dict(kind="spectrogram", normalize="none"),
    "multires": dict(kind="multires", normalize="none"),
    "logmel-512-128-40-60dB-peak": dict(kind="logmel", n_fft=512, hop_length=128, n_mels=40, top_db=60, normalize="peak"),
    "mfcc-4096-256-64-13-peak": dict(kind="mfcc", n_fft=4096, hop_length=256, n_mels=64, n_mfcc=13, normalize="peak"),
    "spectrogram-8192-1024-rms": dict(kind="spectrogram", spectrogram_n_fft=8192, hop_length=1024, top_db=100,
                                      normalize="rms"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_page_features_are_audiotags(dsp_page, case):
    """AudiotagDSP.computeFeature vs audiotag on the test signal, three references:

    * audiotag's functional API in float64 (librosa's float64 constants): every cell within ``EXACT_TOL`` = 1e-9;
    * FeatureExtractor on float64 input (float32 window / filterbank / DCT buffers): within ``F64_TOL`` = 1e-3;
    * FeatureExtractor on float32 input (the training path): within 0.1 dB on cells above the top_db floor,
      0.1 on MFCCs.
    """
    settings = feature_settings(**CASES[case])
    x = make_test_signal()
    js = js_feature(dsp_page, x, settings)
    exact = exact_feature(x, settings)
    ref64 = python_feature(x, settings, torch.float64)
    ref32 = python_feature(x.astype(np.float32), settings, torch.float32)
    assert js.shape == exact.shape == ref64.shape == ref32.shape
    err_exact = float(np.abs(js - exact).max())
    err64 = float(np.abs(js - ref64).max())
    if settings["kind"] == "mfcc":
        err32 = float(np.abs(js - ref32).max())
        assert err32 <= F32_MFCC_TOL
    else:
        floor = exact.max(axis=(-2, -1), keepdims=True) - settings["top_db"]
        above = exact > floor + 1e-9
        err32 = float(np.abs(js - ref32)[above].max())
        assert err32 <= F32_DB_TOL
        assert above.mean() > 0.2 and (~above).any()        # the signal exercises the floor
    assert err_exact <= EXACT_TOL
    assert err64 <= F64_TOL
    REPORT[f"{case} {tuple(js.shape)}: max error vs float64 functional, FeatureExtractor f64, f32"] = (
        f"{err_exact:.2g}", f"{err64:.2g}", f"{err32:.2g}")


# ------------------------------------------------------------------------------------------------------- pages
def test_page_loads_clean_and_light(recorded_page, site_dir, explorer_fragments):
    """Both explorers start and draw, nothing is requested outside the local server, and the page (HTML + scripts
    + CSS) stays under 1.5 MB."""
    started = time.perf_counter()
    open_explorers(recorded_page)
    page = recorded_page.page
    load_s = time.perf_counter() - started
    for kind in ("feature", "augment"):
        assert page.evaluate(DRAWS, kind) == 1
        blank = page.evaluate("""kind => { const c = document.querySelector(`.audiotag-explorer[data-kind="${kind}"] canvas`);
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const s = new Set();
            for (let i = 0; i < d.length; i += 4 * 97) s.add(d[i] * 65536 + d[i + 1] * 256 + d[i + 2]); return s.size; }""", kind)
        assert blank > 50, f"the {kind} canvas looks blank ({blank} colours)"
        assert page.locator(f'.audiotag-explorer[data-kind="{kind}"] .audiotag-explorer-fallback').count() == 0
    assert page.evaluate("document.querySelector('.audiotag-explorer[data-kind=\"feature\"] audio').getAttribute('src')"
                         ).startswith("data:audio/wav;base64,")
    assert page.evaluate("document.querySelector('.audiotag-explorer[data-kind=\"augment\"] audio').getAttribute('src')"
                         ).startswith("blob:")
    weights = {p: (site_dir / "_static" / p).stat().st_size for p in (*pages.JS_FILES, *pages.CSS_FILES)}
    total = (site_dir / "index.html").stat().st_size + sum(weights.values())
    REPORT.update({"test page bytes": total, "shipped files bytes": weights, "page load + first draws (s)": load_s})
    print(f"\npage weight: index.html {(site_dir / 'index.html').stat().st_size} B + files {weights} = {total} B; "
          f"feature explorer {pages.page_weight(explorer_fragments['feature'])} B, "
          f"augment explorer {pages.page_weight(explorer_fragments['augment'])} B; loaded and drawn in {load_s:.2f} s")
    assert total < MAX_PAGE_BYTES
    recorded_page.log.assert_clean()
    assert any(u.endswith("/_static/explorers/dsp.js") for u in recorded_page.log.requests)


def test_every_feature_control_redraws(recorded_page):
    """Each control of the feature explorer changes the drawing; the final state's feature is audiotag's."""
    open_explorers(recorded_page)
    page = recorded_page.page
    steps = [("clip", 1, None), ("kind", "mfcc", (1, 40, 87)), ("n_mfcc", 20, (1, 20, 87)),
             ("window", 1024, None), ("hop", 256, (1, 20, 173)), ("n_mels", 64, None), ("top_db", 40, None),
             ("kind", "spectrogram", (1, 513, 173)), ("window", 512, (1, 257, 173)), ("kind", "multires", (3, 64, 173)),
             ("kind", "logmel", (1, 64, 173)), ("clip", 2, None)]
    for name, value, shape in steps:
        before, after = change_and_compare(page, "feature", name, value)
        assert before != after, f"setting {name} to {value} did not change the drawing"
        if shape:
            got = page.evaluate("() => { const f = document.querySelector('.audiotag-explorer[data-kind=feature]')"
                                ".audiotagExplorer.feature; return [f.channels, f.rows, f.frames]; }")
            assert tuple(got) == shape, f"after {name}={value}: {got}"
    # The feature on screen is the package's feature of the same samples, with the controls' settings.
    shown = page.evaluate("""() => { const e = document.querySelector('.audiotag-explorer[data-kind=feature]').audiotagExplorer;
        const clip = e.clips[Number(e.clip.input.value)];
        return {cfg: e.shownConfig, wave: F64.pack(clip.samples), data: F64.pack(e.feature.data),
                shape: [e.feature.channels, e.feature.rows, e.feature.frames]}; }""")
    settings = {k: v for k, v in shown["cfg"].items() if k in FeatureConfig.__dataclass_fields__}
    assert (settings["n_fft"], settings["hop_length"], settings["n_mels"], settings["top_db"]) == (1024, 256, 64, 40)
    ref = exact_feature(js_array(shown["wave"]), settings)
    assert np.abs(js_array(shown["data"]).reshape(shown["shape"]) - ref).max() <= EXACT_TOL
    recorded_page.log.assert_clean()


def test_every_augment_control_redraws_and_draws_repeat(recorded_page):
    """Each control of the augmentation explorer changes the drawing; a seed gives the same drawing again; the mix
    is audiotag's (mix_pair of the standardised log-mels and of the peak-normalised crops)."""
    open_explorers(recorded_page)
    page = recorded_page.page
    first = page.evaluate(CANVAS, "augment")
    steps = [("clip_a", 2), ("clip_b", 0), ("lambda", 0.3), ("seed", 5), ("erase_area_min", 0.2),
             ("erase_area_max", 0.8), ("erase_aspect_min", 1.0), ("erase_aspect_max", 2.0), ("fill", "random"),
             ("fill", "zero"), ("new_draw", None), ("masking", "specaugment"), ("freq_masks", 3), ("freq_width", 12), ("time_masks", 3),
             ("time_width", 20), ("masking", "both"), ("masking", "none")]
    # (A "zero" fill right after "mean" would not change the drawing: the mix of two standardised log-mels has mean 0.)
    for name, value in steps:
        before, after = change_and_compare(page, "augment", name, value)
        assert before != after, f"setting {name} to {value} did not change the drawing"
    assert page.evaluate("document.querySelector('[data-control=seed]').value") == "6"
    # Back to the first settings: the same seed draws the same picture.
    for name, value in [("masking", "erasing"), ("fill", "mean"), ("seed", 0), ("lambda", 0.6), ("clip_a", 0),
                        ("clip_b", 1), ("erase_area_min", 0.02), ("erase_area_max", 0.4), ("erase_aspect_min", 0.3),
                        ("erase_aspect_max", 3.3)]:
        page.evaluate(SET_CONTROL, ["augment", name, value])
    page.wait_for_function(f"({CANVAS})('augment') === {json.dumps(first)}", timeout=20_000, polling=100)

    shown = page.evaluate("""() => { const e = document.querySelector('.audiotag-explorer[data-kind=augment]').audiotagExplorer;
        const s = e.shown; return {a: F64.pack(e.clips[0].samples), b: F64.pack(e.clips[1].samples),
        mixedWave: F64.pack(e.mixedWave), mixed: F64.pack(s.mixed.data), masked: F64.pack(s.masked.data),
        shape: [s.mixed.channels, s.mixed.rows, s.mixed.frames], box: s.box}; }""")
    center_crop, normalize, mix_pair = AUDIO.center_crop, AUDIO.normalize, AUGMENT.mix_pair

    n = int(round(DEFAULTS["augment"]["seconds"] * SR))
    crops = [normalize(center_crop(js_array(shown[k]), n), "peak").astype(np.float64) for k in ("a", "b")]
    lam = DEFAULTS["augment"]["mixup_lambda"]
    wave_ref, _ = mix_pair(torch.as_tensor(crops[0]), torch.as_tensor(crops[1]), torch.zeros(1), torch.zeros(1), lam)
    assert np.abs(js_array(shown["mixedWave"]) - wave_ref.numpy()).max() < 1e-6       # normalize() returns float32
    settings = feature_settings(kind=DEFAULTS["augment"]["feature_kind"])
    cfg = FeatureConfig(**{**settings, "multires_windows": tuple(settings["multires_windows"])}, image_size=None,
                        standardize=DEFAULTS["augment"]["standardize"])
    feats = FEATURES.compute_features(torch.as_tensor(np.stack(crops)), cfg)
    mixed_ref, _ = mix_pair(feats[0], feats[1], torch.zeros(1), torch.zeros(1), lam)
    mixed = js_array(shown["mixed"]).reshape(shown["shape"])
    assert np.abs(mixed - mixed_ref.numpy()).max() < 1e-4
    # Erasing: the box lies inside, holds the mix's mean, and nothing else changed.
    box = shown["box"]
    masked = js_array(shown["masked"]).reshape(shown["shape"])
    rows, frames = shown["shape"][1:]
    assert 0 <= box["top"] and box["top"] + box["height"] <= rows and 0 <= box["left"] and box["left"] + box["width"] <= frames
    area = box["height"] * box["width"] / (rows * frames)
    assert 0.02 * 0.8 < area < 0.4 * 1.2
    inside = np.zeros((rows, frames), bool)
    inside[box["top"]:box["top"] + box["height"], box["left"]:box["left"] + box["width"]] = True
    assert np.allclose(masked[0][inside], mixed.mean()) and np.array_equal(masked[0][~inside], mixed[0][~inside])
    recorded_page.log.assert_clean()


DROP = """async ([b64, name, type]) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, {type}));
  const root = document.querySelector('.audiotag-explorer[data-kind="feature"]');
  root.dispatchEvent(new DragEvent('dragover', {dataTransfer: transfer, bubbles: true, cancelable: true}));
  root.dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));
}"""


def test_dropped_wav_file_is_drawn_with_audiotags_numbers(recorded_page):
    """A WAV file at the explorer's rate dropped on the feature explorer is decoded by the browser and drawn. The
    browser's samples are the file's within one 16-bit step (Chromium reads positive samples as int / 32767), and
    the log-mel drawn is audiotag's log-mel of those samples (float64 functional API, <= 1e-9 dB)."""
    open_explorers(recorded_page)
    page = recorded_page.page
    t = np.arange(int(1.2 * SR)) / SR
    samples = 0.5 * np.sin(2 * np.pi * (500 * t + 800 * t ** 2)) * np.exp(-t)
    wav = wav_file_bytes(samples, SR)
    before, draws = page.evaluate(CANVAS, "feature"), page.evaluate(DRAWS, "feature")
    page.evaluate(DROP, [base64.b64encode(wav).decode(), "dropped sweep.wav", "audio/wav"])
    wait_for_draw(page, "feature", draws)
    assert page.evaluate(CANVAS, "feature") != before
    selected = page.evaluate("() => { const s = document.querySelector('[data-control=clip]'); return s.options[s.selectedIndex].text; }")
    assert selected == "your file: dropped sweep.wav"
    got = page.evaluate("""() => { const e = document.querySelector('.audiotag-explorer[data-kind=feature]').audiotagExplorer;
        return {cfg: e.shownConfig, data: F64.pack(e.feature.data), shape: [e.feature.channels, e.feature.rows, e.feature.frames],
                wave: F64.pack(e.clips[e.clips.length - 1].samples)}; }""")
    decoded = js_array(got["wave"])
    assert len(decoded) == len(samples)
    lsb = float(np.abs(decoded - decode_pcm16(wav)).max() * 32768)
    assert lsb <= 1.0
    settings = {k: v for k, v in got["cfg"].items() if k in FeatureConfig.__dataclass_fields__}
    js = js_array(got["data"]).reshape(got["shape"])
    err = float(np.abs(js - exact_feature(decoded, settings)).max())
    err_file = float(np.abs(js - exact_feature(decode_pcm16(wav), settings)).max())
    REPORT["dropped WAV (same rate): decoder vs int/32768 (LSB), max dB error vs audiotag of the decoded samples, "
           "of the file's int/32768 samples"] = (lsb, f"{err:.2g}", f"{err_file:.2g}")
    assert err <= EXACT_TOL
    recorded_page.log.assert_clean()


def test_chosen_file_is_resampled_and_a_bad_file_is_reported(recorded_page, tmp_path):
    """A 44.1 kHz stereo WAV given to the file input is mixed to mono and resampled to the explorer's rate by the
    browser (its dominant band matches the package's feature of the package-resampled clip); a file that is not audio
    gives a message, not an error."""
    open_explorers(recorded_page)
    page = recorded_page.page
    rate, f0 = 44100, 1000.0
    t = np.arange(int(1.0 * rate)) / rate
    left = 0.4 * np.sin(2 * np.pi * f0 * t)
    stereo = np.stack([left, 0.5 * left], axis=1)
    path = tmp_path / "stereo 44k.wav"
    path.write_bytes(wav_file_bytes(stereo, rate, channels=2))
    draws = page.evaluate(DRAWS, "feature")
    page.set_input_files('.audiotag-explorer[data-kind="feature"] input[type=file]', str(path))
    wait_for_draw(page, "feature", draws)
    got = page.evaluate("""() => { const e = document.querySelector('.audiotag-explorer[data-kind=feature]').audiotagExplorer;
        return {cfg: e.shownConfig, data: F64.pack(e.feature.data), shape: [e.feature.channels, e.feature.rows, e.feature.frames],
                wave: F64.pack(e.clips[e.clips.length - 1].samples)}; }""")
    wave = js_array(got["wave"])
    assert abs(len(wave) - SR) <= 1
    resample = AUDIO.resample
    mono = resample(stereo.mean(axis=1).astype(np.float32), rate, SR)
    settings = {k: v for k, v in got["cfg"].items() if k in FeatureConfig.__dataclass_fields__}
    js = js_array(got["data"]).reshape(got["shape"])
    ref = python_feature(mono[: len(wave)], settings)
    assert js.shape == ref.shape
    middle = slice(3, js.shape[-1] - 3)
    assert np.array_equal(js[0, :, middle].argmax(axis=0), ref[0, :, middle].argmax(axis=0))
    peak_diff = float(np.abs(js[0].max() - ref[0].max()))
    loud = ref[0] > ref[0].max() - 30
    REPORT["browser-resampled 44.1 kHz stereo vs audio.resample: peak dB diff, max diff within 30 dB of peak"] = (
        peak_diff, float(np.abs(js[0] - ref[0])[loud].max()))
    assert peak_diff < 0.5
    # Not audio: a message in the explorer, no error, no redraw.
    draws = page.evaluate(DRAWS, "feature")
    page.evaluate(DROP, [base64.b64encode(b"this is not audio at all" * 10).decode(), "notes.txt", "text/plain"])
    page.wait_for_function("document.querySelector('.audiotag-explorer[data-kind=feature] .atx-status.atx-error') !== null")
    assert "could not read notes.txt" in page.inner_text('.audiotag-explorer[data-kind="feature"] .atx-status')
    assert page.evaluate(DRAWS, "feature") == draws
    recorded_page.log.assert_clean()
