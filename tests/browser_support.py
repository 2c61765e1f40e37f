"""Headless-browser test support: a loopback HTTP server for a directory and a Playwright page that records
everything that would make a page test fail.

* :func:`serve_directory` serves a folder on ``127.0.0.1`` (random port, threaded ``http.server``).
* :func:`open_recorded_page` opens a Chromium page that records console errors, uncaught page errors, failed
  loads and every request URL (:class:`PageLog`); :meth:`PageLog.problems` lists what went wrong, including any
  request that leaves the local server.
* Fixtures: ``browser`` (module scope: Debian's Chromium driven by Playwright; the test is skipped, with the
  reason, when the ``playwright`` package or a Chromium binary is missing), ``served_site`` (module scope: serves
  the test module's ``site_dir`` fixture, which the module must define) and ``recorded_page`` (a fresh
  :class:`RecordedPage` per test).

Use from a test module (``tests/`` is on ``sys.path`` under pytest's default import mode)::

    from browser_support import browser, recorded_page, served_site  # noqa: F401  (fixtures)

Playwright's Python package bundles its driver; no browser is ever downloaded (never run ``playwright install``):
the executable is ``$AUDIOTAG_CHROMIUM``, else ``chromium``/``chromium-browser`` on ``PATH``, else
``/usr/bin/chromium``.
"""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pytest

#: Chromium flags: no sandbox (tests run as root), no GPU, and nothing that phones home.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage")
#: URL schemes that never leave the machine.
LOCAL_SCHEMES = ("data:", "blob:", "about:")


def chromium_executable() -> str | None:
    """The Chromium binary to drive, or ``None`` when there is none."""
    for candidate in (os.environ.get("AUDIOTAG_CHROMIUM"), shutil.which("chromium"), shutil.which("chromium-browser"),
                      "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


#: Installed in test pages: float64 arrays (and bytes) cross the Playwright bridge as base64 (JSON lists are slow).
F64_HELPERS = """window.F64 = {
  pack(values) {
    const bytes = new Uint8Array(Float64Array.from(values).buffer);
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(text);
  },
  unpack(text) {
    const raw = atob(text), bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return new Float64Array(bytes.buffer);
  },
  bytes(text) {
    const raw = atob(text), bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  },
};"""


# ----------------------------------------------------------------------------------------------------- server
class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging every request to stderr."""

    def log_message(self, *args):
        pass


@contextmanager
def serve_directory(directory: str | os.PathLike) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 at a free port; yields the origin (``http://127.0.0.1:PORT``)."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# ------------------------------------------------------------------------------------------------------- page
@dataclass
class PageLog:
    """What a page did: console errors, page errors (uncaught exceptions), failed requests and every request URL."""

    origin: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def is_local(self, url: str) -> bool:
        return url.startswith(self.origin + "/") or url == self.origin or url.startswith(LOCAL_SCHEMES)

    def foreign_requests(self) -> list[str]:
        """Requests to anywhere but the local server (data:, blob: and about: URLs stay on the machine)."""
        return [u for u in self.requests if not self.is_local(u)]

    def problems(self) -> list[str]:
        return ([f"console error: {m}" for m in self.console_errors] + [f"page error: {m}" for m in self.page_errors]
                + [f"failed request: {m}" for m in self.failed_requests]
                + [f"request leaving the local server: {u}" for u in self.foreign_requests()])

    def assert_clean(self) -> None:
        problems = self.problems()
        assert not problems, "the page was not clean:\n" + "\n".join(problems)


@dataclass
class RecordedPage:
    """A Playwright page, its :class:`PageLog`, and the origin of the local server it should talk to."""

    page: object
    log: PageLog
    origin: str

    def goto(self, path: str = "index.html", **kw):
        return self.page.goto(f"{self.origin}/{path.lstrip('/')}", **kw)


@contextmanager
def open_recorded_page(browser, origin: str) -> Iterator[RecordedPage]:
    """A new browser context and page whose console errors, page errors and requests are recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, service_workers="block")
    page = context.new_page()
    log = PageLog(origin)
    page.on("console", lambda msg: log.console_errors.append(msg.text) if msg.type in ("error", "assert") else None)
    page.on("pageerror", lambda err: log.page_errors.append(str(err)))
    page.on("request", lambda req: log.requests.append(req.url))
    page.on("requestfailed", lambda req: None if req.url.startswith(LOCAL_SCHEMES) else
            log.failed_requests.append(f"{req.url} ({req.failure})"))
    try:
        yield RecordedPage(page, log, origin)
    finally:
        context.close()


# --------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through Playwright (module scope); skipped when playwright or Chromium is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install playwright; no browser download needed)")
    executable = chromium_executable()
    if executable is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=executable, args=list(CHROMIUM_ARGS), headless=True)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        manager.stop()


@pytest.fixture(scope="module")
def served_site(site_dir) -> Iterator[str]:
    """The test module's ``site_dir`` served on loopback; yields its origin."""
    with serve_directory(site_dir) as origin:
        yield origin


@pytest.fixture
def recorded_page(browser, served_site) -> Iterator[RecordedPage]:
    """A fresh recorded page on the served site (not yet navigated)."""
    with open_recorded_page(browser, served_site) as recorded:
        yield recorded
