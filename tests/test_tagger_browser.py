"""Chapter 7's "tag it here" panel in the built smoke book, in headless Chromium: the book's own networks (exported to
ONNX by the chapter) tag sounds in the page exactly as ``audiotag predict`` does.

* three of the panel's test clips: the page's top-3 labels and probabilities equal ``audiotag predict --precision
  fp32`` on the same files within 1e-3 (the page computes in float32; bf16 autocast would move them by ~1e-3);
* a WAV of the reader's own (made here: stereo, 22.05 kHz) dropped on the panel is tagged, equal to ``predict`` too;
* a recording through Chromium's fake microphone (``--use-file-for-fake-audio-capture``) is tagged;
* a file that is not audio shows an error naming it, and the panel still tags the next file;
* no console error and no request outside the page's own origin, and nothing of the runtime or the networks loads
  before the reader presses the button.

The time to tag a 10 s clip in the page and with ``predict`` is printed (``pytest -s``), not asserted.
"""
from __future__ import annotations

import json
import time

import numpy as np
import pytest
import soundfile as sf
from browser_support import (CHROMIUM_ARGS, browser, chromium_executable, open_recorded_page,  # noqa: F401
                             recorded_page, served_site)
from tagger_support import drop_file, error_text, load_networks, record, tag_file, tag_test_clip

from audiotag.book.build import EXECUTED, TAGGER_DIR
from audiotag.inference.tagging import predict_files

pytestmark = pytest.mark.slow

CHAPTER = f"{EXECUTED.as_posix()}/07_tag_your_audio.html"
TOLERANCE = 1e-3
REPORT: dict[str, object] = {}


@pytest.fixture(scope="module")
def site_dir(smoke_book):
    return smoke_book.site


@pytest.fixture(scope="module")
def runs(smoke_book):
    return [smoke_book.runs / "2d", smoke_book.runs / "1d"]


@pytest.fixture(scope="module")
def manifest(smoke_book):
    path = smoke_book.root / TAGGER_DIR / "tagger.json"
    return path, json.loads(path.read_text())


def _reference(paths, runs):
    preds, failures = predict_files([str(p) for p in paths], run=[str(r) for r in runs], precision="fp32")
    assert not failures
    return preds


def _check_equal(result, probs, classes, what):
    got = np.asarray(result["probs"])
    assert got.shape == probs.shape
    gap = float(np.abs(got - probs).max())
    assert gap <= TOLERANCE, f"{what}: the page differs from predict by {gap:.2e}"
    expected = [classes[i] for i in np.argsort(-probs, kind="stable")[:3]]
    assert [t["label"] for t in result["top"]] == expected, f"{what}: top 3 {result['top']} vs {expected}"
    return gap


def test_the_page_tags_test_clips_and_a_dropped_file_like_predict(recorded_page, runs, manifest, tmp_path):
    path, info = manifest
    classes = info["classes"]
    page = recorded_page.page
    recorded_page.goto(CHAPTER, wait_until="load")
    page.wait_for_timeout(500)
    # Nothing heavy before the button: no runtime, no network, no worker.
    assert not [u for u in recorded_page.log.requests if "onnxruntime-web" in u or u.endswith(".onnx")
                or "tagger-worker" in u]
    load_networks(page)

    clips = info["clips"][:3]
    assert len(clips) == 3
    reference = _reference([path.parent / c["file"] for c in clips], runs)
    gaps = []
    for i, clip in enumerate(clips):
        result = tag_test_clip(page, i)
        assert result["file"].endswith(clip["fname"].rsplit(".", 1)[0] + ".wav") or clip["fname"] in result["file"]
        gaps.append(_check_equal(result, reference.probs[i], classes, clip["fname"]))
        assert set(result["networks"]) == {"2d", "1d"}
        assert all(len(n["folds"]) == 2 for n in result["networks"].values())
    REPORT["page vs predict --precision fp32, 3 test clips: largest difference"] = max(gaps)

    # A reader's own recording: 2.5 s, stereo, 22.05 kHz, made here; dropped on the panel.
    rate = 22050
    t = np.arange(int(2.5 * rate)) / rate
    left = 0.4 * np.sin(2 * np.pi * 660 * t) * np.exp(-3 * (t % 0.5))
    right = 0.2 * np.random.default_rng(0).standard_normal(len(t)) * (t > 1.2)
    own = tmp_path / "my_sound.wav"
    sf.write(own, np.stack([left, right], axis=1).astype(np.float32), rate, subtype="PCM_16")
    result = drop_file(page, "my_sound.wav", own.read_bytes())
    assert result["file"] == "my_sound.wav" and result["sample_rate"] == rate
    assert result["duration_s"] == pytest.approx(2.5, abs=0.01)
    REPORT["page vs predict, dropped 22.05 kHz stereo WAV"] = _check_equal(
        result, _reference([own], runs).probs[0], classes, "dropped WAV")

    # A file that is not audio: an error naming it; the next file is still tagged.
    notes = tmp_path / "notes.wav"
    notes.write_text("not audio at all")
    with pytest.raises(Exception) as error:
        tag_file(page, notes)
    assert "notes.wav" in str(error.value) and "notes.wav" in error_text(page)
    assert tag_file(page, own)["file"] == "my_sound.wav"

    # The time to tag a 10 s clip (printed, not asserted): the page beside predict on the same file.
    long_clip = tmp_path / "ten_seconds.wav"
    rng = np.random.default_rng(1)
    t = np.arange(10 * 44100) / 44100
    sf.write(long_clip, (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(len(t))).astype(np.float32),
             44100, subtype="PCM_16")
    result = tag_file(page, long_clip)
    start = time.perf_counter()
    _reference([long_clip], runs)
    REPORT["10 s clip (smoke networks): page seconds, predict seconds (loading included)"] = (
        round(result["seconds"], 3), round(time.perf_counter() - start, 3))
    for key, value in REPORT.items():
        print(f"{key}: {value}")
    recorded_page.log.assert_clean()


def test_a_recording_from_the_microphone_is_tagged(browser, served_site, tmp_path):
    """Chromium's fake capture device plays a WAV made here into the page's microphone (a second Chromium, launched
    with the capture flags by the same Playwright)."""
    rate = 44100
    t = np.arange(4 * rate) / rate
    wave = 0.5 * np.sin(2 * np.pi * 880 * t) * (np.sin(2 * np.pi * 2 * t) > 0)
    capture = tmp_path / "microphone.wav"
    sf.write(capture, wave.astype(np.float32), rate, subtype="PCM_16")
    args = list(CHROMIUM_ARGS) + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                                  f"--use-file-for-fake-audio-capture={capture}"]
    chromium = browser.browser_type.launch(executable_path=chromium_executable(), args=args, headless=True)
    try:
        with open_recorded_page(chromium, served_site) as recorded:
            recorded.page.context.grant_permissions(["microphone"], origin=served_site)
            recorded.goto(CHAPTER, wait_until="load")
            load_networks(recorded.page)
            result = record(recorded.page, seconds=2.0)
            assert result["source"] == "microphone" and result["duration_s"] > 1.0
            assert len(result["top"]) == 3 and abs(sum(result["probs"]) - 1) < 1e-3
            recorded.log.assert_clean()
    finally:
        chromium.close()
