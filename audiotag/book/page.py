"""What a chapter page shows besides its figures: sounds to hear beside the figures of them, and tables a reader
can read.

Every function returns an ``IPython.display.HTML`` object, so a notebook cell shows it as its value, in JupyterLab
and in the rendered book alike (no kernel is needed to play a sound or read a table in the HTML page):

* :func:`player` - one audio player with its label (the class), at the clip's own sample rate;
* :func:`players` - several labelled players in a grid;
* :func:`figure_with_players` - a figure of one or more sounds with a player for each beside it, so the reader
  can hear what the figure shows; the figure's alternative text says what it shows;
* :func:`show_table` - a DataFrame with readable headers (``map3_whole`` -> ``whole MAP@3``), whole numbers without
  ``.0``, missing values as a dash (never ``NaN``) and a horizontal scroll bar when it is wider than the page.

The sounds are embedded in the page as lossless 16-bit FLAC (``data:`` URLs): the site stays one folder that works offline.
"""
from __future__ import annotations

import base64
import html
import re
from typing import Mapping

import numpy as np
import pandas as pd
from IPython.display import HTML
from matplotlib.figure import Figure

from audiotag.book.plots import figure_png

#: Column and index names that read better in words (applied after :func:`readable_name`'s general rules).
READABLE = {"map3": "MAP@3", "val_map3": "validation MAP@3", "val_acc": "validation accuracy", "acc": "accuracy",
            "epochs_run": "epochs", "best_epoch": "best epoch", "n_clips": "clips", "fname": "file name"}
#: How a missing value is shown.
MISSING = "–"


def audio_bytes(wave: np.ndarray, sample_rate: int) -> tuple[bytes, str]:
    """``wave`` (floats in [-1, 1]) as a 16-bit FLAC file in memory and its MIME type: lossless, and about half
    the bytes of a WAV, so a page with many players stays light (every current browser plays FLAC)."""
    import io

    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, np.clip(wave, -1.0, 1.0).astype(np.float32), int(sample_rate), format="FLAC",
                    subtype="PCM_16")
    return buf.getvalue(), "audio/flac"


def _audio_tag(wave: np.ndarray, sample_rate: int, normalize: bool = True) -> str:
    """An ``<audio>`` element holding ``wave`` at ``sample_rate`` Hz (peak-normalised unless ``normalize`` is
    false, so quiet clips are audible)."""
    wave = np.nan_to_num(np.asarray(wave, dtype=np.float64).reshape(-1))
    peak = float(np.abs(wave).max()) if wave.size else 0.0
    if normalize and peak > 0:
        wave = wave / peak * 0.9
    data, mime = audio_bytes(wave, sample_rate)
    return (f'<audio controls preload="none" style="width: 100%; max-width: 260px" '
            f'src="data:{mime};base64,{base64.b64encode(data).decode("ascii")}"></audio>')


def _player_html(wave: np.ndarray, sample_rate: int, label: str | None, normalize: bool = True) -> str:
    seconds = len(np.asarray(wave).reshape(-1)) / float(sample_rate)
    caption = (f"<b>{html.escape(label)}</b> " if label else "") + \
        f'<span style="color: #666">({seconds:.2f} s at {sample_rate / 1000:g} kHz)</span>'
    return (f'<div class="audiotag-player" style="margin: 2px 0 8px 0">'
            f'<div style="font-size: 0.85em">{caption}</div>{_audio_tag(wave, sample_rate, normalize)}</div>')


def player(wave: np.ndarray, sample_rate: int, label: str | None = None, normalize: bool = True) -> HTML:
    """One labelled audio player of ``wave`` at its own ``sample_rate`` (Hz)."""
    return HTML(_player_html(wave, sample_rate, label, normalize))


def players(sounds: Mapping[str, tuple[np.ndarray, int]], columns: int = 3, normalize: bool = True) -> HTML:
    """Labelled players in a grid of ``columns``: ``sounds`` maps a label to ``(wave, sample_rate)``."""
    cells = [f'<div>{_player_html(w, sr, label, normalize)}</div>' for label, (w, sr) in sounds.items()]
    return HTML(f'<div class="audiotag-players" style="display: grid; gap: 4px 16px; '
                f'grid-template-columns: repeat({int(columns)}, minmax(180px, 1fr))">{"".join(cells)}</div>')


def figure_html(fig: Figure, alt: str, dpi: int = 80) -> str:
    """A figure as an inline PNG ``<img>`` whose alternative text is ``alt``."""
    data = base64.b64encode(figure_png(fig, dpi=dpi)).decode("ascii")
    return (f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}" '
            f'style="max-width: 100%; height: auto">')


def figure_with_players(fig: Figure, sounds: Mapping[str, tuple[np.ndarray, int]], alt: str,
                        dpi: int = 80, normalize: bool = True) -> HTML:
    """A figure of sounds with a labelled player for each beside it (below it on a narrow page).

    ``sounds`` maps a label (the class, or "A: Violin_or_fiddle") to ``(wave, sample_rate)``; ``alt`` says in words
    what the figure shows (screen readers and a page whose image failed read it)."""
    if not sounds:
        raise ValueError("figure_with_players needs at least one sound; show a figure without sounds as it is")
    side = "".join(_player_html(w, sr, label, normalize) for label, (w, sr) in sounds.items())
    return HTML('<div class="audiotag-figure-with-players" style="display: flex; flex-wrap: wrap; '
                'align-items: center; gap: 12px">'
                f'<div style="flex: 1 1 480px; min-width: 0">{figure_html(fig, alt, dpi)}</div>'
                f'<div style="flex: 0 1 270px">{side}</div></div>')


def readable_name(name) -> str:
    """A column or index name in words: ``map3_whole`` -> ``whole MAP@3``, ``val_acc`` -> ``validation accuracy``,
    other ``snake_case`` -> ``snake case``. Non-strings are returned as text unchanged."""
    if not isinstance(name, str):
        return str(name)
    if name in READABLE:
        return READABLE[name]
    match = re.fullmatch(r"(map3|accuracy|acc)_(whole|public|private)", name)
    if match:
        return f"{match.group(2)} {READABLE.get(match.group(1), match.group(1))}"
    return name.replace("_", " ")


def _whole_numbers(column: pd.Series) -> bool:
    """Whether a column holds numbers only and its finite ones are all whole (counts, epochs): shown as integers."""
    values = pd.to_numeric(column, errors="coerce").astype(float)
    if values.isna().sum() > column.isna().sum():       # some entries are not numbers
        return False
    finite = values[np.isfinite(values)]
    return len(finite) > 0 and bool((finite == np.round(finite)).all())


def _format(value, digits: int, whole: bool = False) -> str:
    if value is None or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)) or (whole and isinstance(value, (float, np.floating))):
        return f"{int(round(float(value))):,}"
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}"
    return str(value)


def show_table(table: pd.DataFrame | pd.Series, digits: int = 3, index: bool = True,
               caption: str | None = None) -> HTML:
    """A table as a reader should see it: readable headers, columns of whole numbers as integers (``821``, not
    ``821.0``), other numbers to ``digits`` places, missing values as a dash, scrolling sideways when wide."""
    frame = table.to_frame() if isinstance(table, pd.Series) else table
    frame = frame.copy()
    if isinstance(frame.columns, pd.MultiIndex):
        frame.columns = pd.MultiIndex.from_tuples([tuple(readable_name(p) for p in col) for col in frame.columns])
    else:
        frame.columns = [readable_name(c) for c in frame.columns]
    if frame.index.name is not None:
        frame.index.name = readable_name(frame.index.name)
    shown = frame.apply(lambda col: col.map(lambda v, w=_whole_numbers(col): _format(v, digits, w))) if len(frame) \
        else frame
    body = shown.to_html(index=index, escape=True, border=0, classes="audiotag-table")
    cap = f'<div style="font-size: 0.9em; margin-bottom: 4px">{html.escape(caption)}</div>' if caption else ""
    return HTML(f'<div class="audiotag-table-wrap" style="overflow-x: auto; max-width: 100%">{cap}{body}</div>')
