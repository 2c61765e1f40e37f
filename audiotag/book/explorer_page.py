"""The book's in-page explorers: the HTML a notebook cell displays, for a static page with no kernel.

The explorers themselves are plain JavaScript shipped with the package in ``audiotag/book/static/explorers/``
(copied into the site's ``_static/explorers/`` by the book's Sphinx configuration) (``dsp.js``: the
features and augmentations, numerically audiotag's; ``explorers.js``: the two explorers' controls and canvases;
``explorers.css``). The book loads them on every page (Sphinx ``html_js_files`` / ``html_css_files``, see
:data:`JS_FILES` and :data:`CSS_FILES`), so the HTML made here holds no ``<script src>``: only a
``<div class="audiotag-explorer" data-kind="feature|augment">`` with an embedded JSON configuration (the defaults
of ``_static/explorers/defaults.json`` and a few short clips as base64 16-bit WAV), which ``explorers.js`` turns
into a live explorer when the page loads::

    from IPython.display import HTML
    from audiotag.book import explorer_page as pages
    clips = pages.example_clips(data_dir, n=4)
    HTML(pages.feature_explorer_html(clips))
    HTML(pages.augment_explorer_html(clips[:3]))

In a live notebook (where the book's scripts are not loaded) pass ``inline_assets=True`` to inline them.

The Python explorers of :mod:`audiotag.book.widgets` read the same ``defaults.json``: one source of defaults.
"""
from __future__ import annotations

import base64
import copy
import html
import io
import json
import wave as wavfile
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from audiotag.data.audio import load_audio, resample
from audiotag.data.datasets import load_dataset

#: The folder of the explorers' JavaScript, CSS and defaults (the book's ``html_static_path``).
STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSET_DIR = STATIC_DIR / "explorers"
DEFAULTS_FILE = ASSET_DIR / "defaults.json"
#: What the book's Sphinx configuration loads on every page (paths relative to ``_static``).
JS_FILES = ("explorers/dsp.js", "explorers/explorers.js")
CSS_FILES = ("explorers/explorers.css",)
#: Explorer kinds (the ``data-kind`` attribute) and the section of defaults.json each one's overrides go to.
EXPLORER_KINDS = {"feature": "feature", "augment": "augment"}

#: A clip: (label, waveform, sample rate) or (label, waveform, sample rate, name).
Clip = tuple

@lru_cache(maxsize=1)
def _defaults_text() -> str:
    return DEFAULTS_FILE.read_text(encoding="utf-8")


def load_defaults() -> dict:
    """The explorers' defaults (``_static/explorers/defaults.json``), a fresh copy the caller may change."""
    return copy.deepcopy(json.loads(_defaults_text()))


# ------------------------------------------------------------------------------------------------------ audio
def pcm16(wave: np.ndarray) -> np.ndarray:
    """The 16-bit samples a WAV of ``wave`` holds: ``round(clip(x, -1, 1) * 32767)`` (read back as int / 32768)."""
    x = np.clip(np.nan_to_num(np.asarray(wave, dtype=np.float64)), -1.0, 1.0)
    return np.round(x * 32767.0).astype("<i2")


def wav_bytes(wave: np.ndarray, sample_rate: int) -> bytes:
    """A mono 16-bit PCM WAV file of ``wave`` (floats in [-1, 1]) at ``sample_rate`` Hz, in memory."""
    buf = io.BytesIO()
    with wavfile.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(int(sample_rate))
        out.writeframes(pcm16(wave).tobytes())
    return buf.getvalue()


def encode_clips(clips: Iterable[Clip], rate: int, max_seconds: float) -> list[dict]:
    """The clips as the explorers' JSON entries ``{label, name, sample_rate, wav}``: resampled to ``rate`` (``audio.resample``),
    mono, the first ``max_seconds``, 16-bit WAV in base64. Names default to the label (numbered when repeated)."""
    entries, seen = [], {}
    for clip in clips:
        if len(clip) not in (3, 4):
            raise ValueError("a clip is (label, wave, sample_rate) or (label, wave, sample_rate, name), "
                             f"got {len(clip)} items")
        label, wave, sr = clip[:3]
        wave = np.asarray(wave)
        if wave.ndim == 2:        # (samples, channels) as soundfile reads it: mix down
            wave = wave.mean(axis=1)
        if wave.ndim != 1 or wave.size == 0:
            raise ValueError(f"clip {label!r}: expected a non-empty mono waveform, got shape {wave.shape}")
        x = resample(wave.astype(np.float32), int(sr), rate)[: int(round(max_seconds * rate))]
        seen[label] = seen.get(label, 0) + 1
        name = str(clip[3]) if len(clip) == 4 else (str(label) if seen[label] == 1 else f"{label} {seen[label]}")
        entries.append({"label": str(label), "name": name, "sample_rate": rate,
                        "wav": base64.b64encode(wav_bytes(x, rate)).decode("ascii")})
    return entries


# ------------------------------------------------------------------------------------------------------- HTML
def _script_json(obj) -> str:
    """JSON safe inside ``<script type="application/json">`` (no ``</script>``, no HTML-significant characters)."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def inline_assets_html() -> str:
    """The explorers' CSS and JavaScript inlined (``<style>``/``<script>``), for a live notebook; the book loads
    the files instead."""
    css = "\n".join((STATIC_DIR / p).read_text(encoding="utf-8") for p in CSS_FILES)
    js = "\n".join((STATIC_DIR / p).read_text(encoding="utf-8") for p in JS_FILES)
    return f"<style>\n{css}\n</style>\n<script>\n{js}\n</script>\n"


def explorer_html(explorer: str, clips: Sequence[Clip], /, *, inline_assets: bool = False, **overrides) -> str:
    """The HTML of one in-page ``explorer`` (``feature`` or ``augment``) over ``clips``.

    ``overrides`` replace entries of that explorer's section of defaults.json (for example ``kind="mfcc"`` or
    ``n_mels=64`` for the feature explorer, ``mixup_lambda=0.5`` for the augmentation explorer); an unknown name
    is an error. The clips are resampled to defaults.json's ``sample_rate`` and cut to its ``clip_seconds``.
    """
    if explorer not in EXPLORER_KINDS:
        raise ValueError(f"unknown explorer {explorer!r}; use one of {sorted(EXPLORER_KINDS)}")
    defaults = load_defaults()
    section = defaults[EXPLORER_KINDS[explorer]]
    unknown = sorted(set(overrides) - set(section))
    if unknown:
        raise ValueError(f"unknown {explorer} explorer setting(s) {unknown}; known: {sorted(section)}")
    section.update(overrides)
    if explorer == "feature" and section["kind"] not in section["kinds"]:
        raise ValueError(f"feature kind {section['kind']!r} is not one of {section['kinds']}")
    clips = list(clips)
    need = 2 if explorer == "augment" else 1
    if len(clips) < need:
        raise ValueError(f"the {explorer} explorer needs at least {need} clip(s), got {len(clips)}")
    config = {"defaults": defaults,
              "clips": encode_clips(clips, int(defaults["sample_rate"]), float(defaults["clip_seconds"]))}
    what = {"feature": "feature explorer", "augment": "augmentation explorer"}[explorer]
    body = (f'<div class="audiotag-explorer" data-kind="{html.escape(explorer)}">\n'
            f'<script type="application/json">{_script_json(config)}</script>\n'
            f'<p class="audiotag-explorer-fallback"><em>Interactive {what}: it runs in your browser and needs '
            f'JavaScript (and the book\'s explorers scripts).</em></p>\n</div>\n')
    return (inline_assets_html() + body) if inline_assets else body


def feature_explorer_html(clips: Sequence[Clip], *, inline_assets: bool = False, **overrides) -> str:
    """The feature explorer over ``clips`` (each ``(label, wave, sample_rate)``): the reader picks a clip (or drops
    a file), the feature kind, window, hop, mel bands, MFCCs and dB range, and sees and hears it."""
    return explorer_html("feature", clips, inline_assets=inline_assets, **overrides)


def augment_explorer_html(clips: Sequence[Clip], *, inline_assets: bool = False, **overrides) -> str:
    """The augmentation explorer over ``clips`` (at least two): mixup with a weight, random erasing and
    SpecAugment masks drawn with a seeded generator."""
    return explorer_html("augment", clips, inline_assets=inline_assets, **overrides)


def standalone_page(*fragments: str, title: str = "audiotag explorers", static_url: str = "_static") -> str:
    """A whole HTML page around explorer ``fragments`` that loads the explorers' files from ``static_url`` (for a
    preview or a test; the book's pages load them through Sphinx)."""
    links = "".join(f'<link rel="stylesheet" href="{static_url}/{p}">\n' for p in CSS_FILES)
    scripts = "".join(f'<script src="{static_url}/{p}"></script>\n' for p in JS_FILES)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
            f'<link rel="icon" href="data:,">\n{links}{scripts}</head>\n<body>\n{"".join(fragments)}</body>\n</html>\n')


def page_weight(fragment: str) -> int:
    """Bytes an explorer's HTML adds to a page (UTF-8)."""
    return len(fragment.encode("utf-8"))


def asset_weights() -> dict[str, int]:
    """Bytes of each shipped file (loaded once per page by the book)."""
    return {p: (STATIC_DIR / p).stat().st_size for p in (*JS_FILES, *CSS_FILES, "explorers/defaults.json")}


# --------------------------------------------------------------------------------------------------- examples
def _loudest(wave: np.ndarray, n: int, hop: int) -> np.ndarray:
    """The ``n``-sample window of ``wave`` with the most energy (offsets every ``hop`` samples); shorter clips whole."""
    if len(wave) <= n:
        return wave
    energy = np.concatenate([[0.0], np.cumsum(np.square(wave, dtype=np.float64))])
    starts = np.arange(0, len(wave) - n + 1, max(1, hop))
    best = int(starts[np.argmax(energy[starts + n] - energy[starts])])
    return wave[best:best + n]


def example_clips(data, n: int = 4, seconds: float | None = None, rate: int | None = None,
                  labels: Sequence[str] | None = None, seed: int = 0) -> list[tuple[str, np.ndarray, int]]:
    """``n`` example clips of different classes from a dataset, for the explorers.

    ``data``: a dataset directory (:func:`audiotag.datasets.load_dataset`) or a loaded ``TaggingDataset``.
    ``labels`` picks the classes, else ``n`` classes spread over the sorted class list. Within a class a manually
    verified clip is preferred (chosen with ``seed``). Each clip is read at ``rate`` (default: defaults.json's
    ``sample_rate``) and cut to its loudest ``seconds`` (default: ``clip_seconds``). Returns
    ``[(label, wave, rate), ...]``.
    """
    defaults = load_defaults()
    rate = int(rate or defaults["sample_rate"])
    seconds = float(seconds or defaults["clip_seconds"])
    dataset = load_dataset(data) if isinstance(data, (str, Path)) else data
    table = dataset.train
    table = table[table["label"].notna() & (table["label"].astype(str) != "")]
    available = sorted(table["label"].astype(str).unique())
    if labels is None:
        if n < 1 or not available:
            raise ValueError(f"cannot pick {n} example clips from {len(available)} classes")
        n = min(n, len(available))
        picks = np.unique(np.round(np.linspace(0, len(available) - 1, n)).astype(int))
        labels = [available[i] for i in picks]
    missing = sorted(set(labels) - set(available))
    if missing:
        raise ValueError(f"no training clips of class(es) {missing}")
    rng = np.random.default_rng(seed)
    out = []
    for label in labels:
        rows = table[table["label"].astype(str) == label]
        if "manually_verified" in rows and rows["manually_verified"].astype(bool).any():
            rows = rows[rows["manually_verified"].astype(bool)]
        row = rows.iloc[int(rng.integers(len(rows)))]
        wave = load_audio(row["path"], rate)
        out.append((label, _loudest(wave, int(round(seconds * rate)), rate // 20), rate))
    return out
