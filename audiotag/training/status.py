"""A one-line status of a long run, for a watcher outside the process.

When the book is built, the notebooks train inside Jupyter kernels whose output goes into the notebooks, not to
the terminal of ``make book``. The build sets ``AUDIOTAG_STATUS_FILE``; the trainer then keeps one line in that file
up to date (which run, fold, epoch, batch, loss, validation score), and the build prints it beside the notebook
and cell being executed. Without the variable nothing is written.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

ENV = "AUDIOTAG_STATUS_FILE"
#: At most one write per this many seconds (the last line of an epoch is always written).
INTERVAL = 0.5

_last = 0.0


def report(text: str, force: bool = False) -> None:
    """Replace the status line (atomically; throttled unless ``force``)."""
    global _last
    path = os.environ.get(ENV)
    now = time.monotonic()
    if not path or (not force and now - _last < INTERVAL):
        return
    _last = now
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        tmp.write_text(text.strip() + "\n")
        os.replace(tmp, target)
    except OSError:
        pass    # a status line is a courtesy: never fail a run over it


def read(path: str | os.PathLike) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""
