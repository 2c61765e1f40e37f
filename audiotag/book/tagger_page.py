"""Chapter 7's "tag it here" panel: the HTML the notebook writes, and the measured numbers it quotes.

The panel itself is JavaScript shipped with the book (``static/tagger/tagger.js`` on the page, the scoring in the
Web Worker ``static/tagger/tagger-worker.js``, the features from ``static/explorers/dsp.js``, the networks run by
onnxruntime-web). The notebook only writes an empty ``<div class="audiotag-tagger">`` that names the manifest the
export wrote (:func:`audiotag.inference.onnx_export.export_for_page`) and the download size; ``tagger.js`` builds
the panel inside it. Where no script runs (JupyterLab), the div keeps a sentence saying where the panel works.
"""
from __future__ import annotations

import html
import json
import os
from pathlib import Path

#: The site's static files as the chapter's page reaches them (the page is ``chapters/07_...html``).
STATIC_URL = "../_static/"
#: The manifest (``audiotag.book.build.TAGGER_DIR`` is copied to ``_static/vendor/tagger/``).
MANIFEST_URL = STATIC_URL + "vendor/tagger/tagger.json"
#: What the browser test measured (``tests/test_tagger_browser.py`` and ``benchmarks/tagger_browser.py`` write it).
MEASURED = Path(__file__).resolve().parents[2] / "book" / "measured" / "tagger_browser.json"


def megabytes(n: int) -> str:
    """``118.5 MB`` (decimal megabytes, as download sizes are usually given)."""
    return f"{n / 1e6:.1f} MB"


def panel_html(model_bytes: int, runtime_bytes: int, manifest_url: str = MANIFEST_URL,
               static_url: str = STATIC_URL) -> str:
    """The panel's placeholder, then ``tagger.css`` and ``tagger.js``, which turns it into the panel. Only this page
    loads them (26 kB): the other pages of the book keep their weight."""
    total = int(model_bytes) + int(runtime_bytes)
    assets = (f'<link rel="stylesheet" href="{html.escape(static_url)}tagger/tagger.css">'
              f'<script src="{html.escape(static_url)}tagger/tagger.js"></script>')
    return (f'<div class="audiotag-tagger" data-manifest="{html.escape(manifest_url)}" data-bytes="{total}" '
            f'data-model-bytes="{int(model_bytes)}" data-runtime-bytes="{int(runtime_bytes)}">'
            f'<p class="audiotag-tagger-static">The tagging panel runs on the book\'s HTML pages (its JavaScript is '
            f'not loaded here). It downloads {megabytes(total)} when opened: the networks ({megabytes(model_bytes)}) '
            f'and onnxruntime-web ({megabytes(runtime_bytes)}).</p></div>' + assets)


def panel(model_bytes: int, runtime_bytes: int, manifest_url: str = MANIFEST_URL):
    """The panel as a displayable notebook output."""
    from IPython.display import HTML

    return HTML(panel_html(model_bytes, runtime_bytes, manifest_url))


def measured_timing(path: str | os.PathLike = MEASURED) -> dict | None:
    """The measured time to tag a 10 s clip in the browser and with ``audiotag predict`` (``None`` if never
    measured): ``{"browser_seconds", "predict_seconds", "clip_seconds", "profile", "machine", "chromium", ...}``."""
    path = Path(path)
    if not path.is_file():
        return None
    return json.loads(path.read_text())
