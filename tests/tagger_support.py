"""Driving chapter 7's "tag it here" panel (``audiotag/book/static/tagger/``) from Playwright, for the browser tests
(``tests/test_tagger_browser.py``) and the timing benchmark (``benchmarks/tagger_browser.py``).

* :func:`load_networks` - press the panel's load button and wait until the networks are ready;
* :func:`tag_test_clip`, :func:`tag_file`, :func:`drop_file`, :func:`record` - one tagging each, returning the
  panel's result (``panel.audiotagResult``) or raising :class:`PanelError` with the panel's error text;
* :func:`mini_site` - a one-page site with the panel over an export folder (no book needed).
"""
from __future__ import annotations

import base64
import shutil
from pathlib import Path

#: Milliseconds allowed to load the runtime and the networks, and to tag one sound (2 cores, CI).
LOAD_TIMEOUT_MS = 240_000
TAG_TIMEOUT_MS = 240_000

PANEL = ".audiotag-tagger"


class PanelError(RuntimeError):
    """The panel reported an error instead of a result (the message is the panel's text)."""


def load_networks(page) -> None:
    """Press "Load the networks" and wait for ``data-state=ready`` (raises :class:`PanelError` on ``error``)."""
    page.wait_for_selector(f"{PANEL}[data-state]")
    page.click(f"{PANEL} .audiotag-tagger-load")
    page.wait_for_function(f"() => ['ready', 'error'].includes(document.querySelector('{PANEL}').dataset.state)",
                           timeout=LOAD_TIMEOUT_MS)
    if page.eval_on_selector(PANEL, "p => p.dataset.state") == "error":
        raise PanelError(error_text(page))


def error_text(page) -> str:
    return page.eval_on_selector(f"{PANEL} .audiotag-tagger-error", "e => e.textContent").strip()


def _runs(page) -> int:
    return int(page.eval_on_selector(PANEL, "p => Number(p.dataset.runs || 0)"))


def _result_after(page, before: int) -> dict:
    """Wait for the tagging after ``before`` finished ones; its result, or :class:`PanelError`."""
    page.wait_for_function(f"() => Number(document.querySelector('{PANEL}').dataset.runs || 0) > {before}",
                           timeout=TAG_TIMEOUT_MS)
    if page.eval_on_selector(PANEL, "p => p.dataset.state") == "error":
        raise PanelError(error_text(page))
    return page.eval_on_selector(PANEL, "p => p.audiotagResult")


def tag_test_clip(page, index: int) -> dict:
    """Choose the panel's test clip ``index`` (the manifest's order) and return its result."""
    before = _runs(page)
    page.select_option(f"{PANEL} .audiotag-tagger-clips", value=str(index))
    return _result_after(page, before)


def tag_file(page, path: str | Path) -> dict:
    """Give ``path`` to the panel's file input (as a reader picking a file) and return the result."""
    before = _runs(page)
    page.set_input_files(f"{PANEL} .audiotag-tagger-file", str(path))
    return _result_after(page, before)


def drop_file(page, name: str, data: bytes, mime: str = "audio/wav") -> dict:
    """Drop a file named ``name`` holding ``data`` on the panel's drop zone (a real ``drop`` event with a
    ``DataTransfer``) and return the result."""
    before = _runs(page)
    page.evaluate("""([name, b64, mime]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, {type: mime}));
        const zone = document.querySelector('.audiotag-tagger .audiotag-tagger-drop');
        for (const type of ['dragenter', 'dragover', 'drop'])
            zone.dispatchEvent(new DragEvent(type, {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""", [name, base64.b64encode(data).decode(), mime])
    return _result_after(page, before)


def record(page, seconds: float = 2.0) -> dict:
    """Press record, stop after ``seconds``, return the result (needs a browser with a microphone, e.g. Chromium's
    fake capture device)."""
    before = _runs(page)
    page.click(f"{PANEL} .audiotag-tagger-record")
    page.wait_for_function(f"() => document.querySelector('{PANEL}').dataset.state === 'recording' || "
                           f"Number(document.querySelector('{PANEL}').dataset.runs || 0) > {before}", timeout=30_000)
    page.wait_for_timeout(int(seconds * 1000))
    if page.eval_on_selector(PANEL, "p => p.dataset.state") == "recording":
        page.click(f"{PANEL} .audiotag-tagger-stop")
    return _result_after(page, before)


def mini_site(dest: str | Path, export_dir: str | Path, static_dir: str | Path, runtime_dir: str | Path,
              panel_html: str) -> Path:
    """A site of one page, ``dest/chapters/panel.html``, holding ``panel_html`` (which loads the tagger's script) and
    the explorers' ``dsp.js`` as every page of the book does, over the
    static files (``static_dir``: ``audiotag/book/static``), the onnxruntime-web files (``runtime_dir``: the npm
    package's ``dist``) and an export (``export_dir``: ``tagger.json`` and the ONNX files). Returns ``dest``."""
    dest = Path(dest)
    static = dest / "_static"
    for sub in ("explorers", "tagger"):
        shutil.copytree(Path(static_dir) / sub, static / sub, dirs_exist_ok=True)
    (static / "vendor" / "onnxruntime-web").mkdir(parents=True, exist_ok=True)
    from audiotag.book.build import VENDOR_FILES

    for name in VENDOR_FILES["onnxruntime-web"][1]:
        shutil.copy2(Path(runtime_dir) / name, static / "vendor" / "onnxruntime-web" / name)
    shutil.copytree(export_dir, static / "vendor" / "tagger", dirs_exist_ok=True)
    (dest / "chapters").mkdir(parents=True, exist_ok=True)
    (dest / "chapters" / "panel.html").write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>panel</title>"
        "<script src='../_static/explorers/dsp.js'></script>"
        f"</head><body><main>{panel_html}</main></body></html>")
    return dest
