"""``make lab``: JupyterLab from the project's virtualenv serves the notebooks, with the ipywidgets manager that
the explorers need installed (the explorers' Python callbacks themselves are driven headless in test_widgets.py)."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
JUPYTER = Path(sys.executable).parent / "jupyter"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not JUPYTER.exists(), reason="jupyter is not installed next to this Python")
def test_lab_serves_the_notebooks_with_the_widget_manager(tmp_path):
    listed = subprocess.run([str(JUPYTER), "labextension", "list"], capture_output=True, text=True)
    assert "@jupyter-widgets/jupyterlab-manager" in listed.stdout + listed.stderr
    port, token = _free_port(), "audiotag-test"
    # the flags of `make lab`, read from the Makefile so the test follows it
    make = (ROOT / "Makefile").read_text()
    flags = [f for f in re.search(r"LAB_FLAGS := (.*?)\n\s*\$\(shell", make, re.S).group(1).split() if f != "\\"]
    flags = [f.replace("notebooks", str(ROOT / "notebooks")) for f in flags]
    root = ["--allow-root"] if os.getuid() == 0 else []
    proc = subprocess.Popen([str(JUPYTER), "lab", *flags, *root, "--no-browser", f"--port={port}",
                             f"--IdentityProvider.token={token}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={"JUPYTER_RUNTIME_DIR": str(tmp_path), "HOME": str(tmp_path),
                                 "PATH": str(JUPYTER.parent) + ":/usr/bin:/bin"})
    try:
        contents = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and contents is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=5) as r:
                    contents = json.load(r)
            except OSError:
                time.sleep(0.5)
        assert contents is not None, "JupyterLab did not answer"
        names = {item["name"] for item in contents["content"]}
        assert {"02_features.ipynb", "05_ensemble.ipynb"} <= names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=10) as r:
            assert r.status == 200 and b"JupyterLab" in r.read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
