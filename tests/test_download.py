"""The FSDKaggle2018 download against a real HTTP server on 127.0.0.1 serving a fake Zenodo record.

The server speaks the Zenodo REST API's shape (``/api/records/<id>`` JSON with ``files``: key, size,
``md5:`` checksum, ``links.self``) and serves small zips in the Zenodo layout, honouring ``Range``.
"""
import hashlib
import http.server
import io
import json
import threading
import urllib.parse
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiotag.cli import main as cli_main
from audiotag.data.datasets import load_dataset
from audiotag.data.download import (MARKER_NAME, WORK_DIR_NAME, DownloadConfig, DownloadError,
                                    download_fsdkaggle2018, extract_zip)
from audiotag.data.labels import LABELS

RECORD = 2552860
FAST = DownloadConfig(backoff_s=0.01, max_backoff_s=0.02, max_retries=3, timeout_s=5)
TRAIN = [("0a1.wav", "Bark", 1), ("0a2.wav", "Cello", 0), ("0a3.wav", "Writing", 1), ("0a4.wav", "Bark", 0)]
TEST = [("1b1.wav", "Bark", "Public"), ("1b2.wav", "Cello", "Private")]


def wav_bytes(seed: int) -> bytes:
    buf = io.BytesIO()
    wave = np.random.default_rng(seed).uniform(-0.5, 0.5, 4000).astype(np.float32)
    sf.write(buf, wave, 44100, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def csv_text(header, rows) -> bytes:
    return ("\n".join([",".join(header)] + [",".join(map(str, r)) for r in rows]) + "\n").encode()


def zenodo_archives() -> dict[str, bytes]:
    """The four zips of record 2552860, in miniature."""
    return {
        "FSDKaggle2018.audio_test.zip": zip_bytes(
            {f"FSDKaggle2018.audio_test/{f}": wav_bytes(i + 100) for i, (f, _, _) in enumerate(TEST)}),
        "FSDKaggle2018.audio_train.zip": zip_bytes(
            {f"FSDKaggle2018.audio_train/{f}": wav_bytes(i) for i, (f, _, _) in enumerate(TRAIN)}),
        "FSDKaggle2018.doc.zip": zip_bytes({"FSDKaggle2018.doc/README.md": b"# FSDKaggle2018\n",
                                            "FSDKaggle2018.doc/LICENSE-DATASET": b"CC-BY 4.0\n"}),
        "FSDKaggle2018.meta.zip": zip_bytes({
            "FSDKaggle2018.meta/train_post_competition.csv": csv_text(
                ["fname", "label", "manually_verified", "freesound_id", "license"],
                [(*r, 10 + i, "Attribution") for i, r in enumerate(TRAIN)]),
            "FSDKaggle2018.meta/test_post_competition_scoring_clips.csv": csv_text(
                ["fname", "label", "usage", "freesound_id", "license"],
                [(*r, 20 + i, "Creative Commons 0") for i, r in enumerate(TEST)]),
        }),
    }


class FakeZenodo:
    """A loopback HTTP server with a Zenodo-shaped record; logs every request and its Range header.

    ``drop_after[key] = [n1, n2, ...]``: the next transfers of ``key`` send their headers and only ``n1``,
    ``n2``, ... bytes, then hang up.
    ``ignore_range``: answer every file request with 200 and the whole file. ``bad_md5``: keys whose
    published checksum is wrong. ``zenodo_links``: publish Zenodo's own absolute links, as a verbatim mirror would.
    """

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requests: list[tuple[str, str | None]] = []
        self.drop_after: dict[str, list[int]] = {}
        self.ignore_range = False
        self.bad_md5: set[str] = set()
        self.zenodo_links = False
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                fake.requests.append((self.path, self.headers.get("Range")))
                prefix = f"/api/records/{RECORD}"
                if self.path == prefix:
                    return self._send(200, json.dumps(fake.record_json()).encode(), "application/json")
                if self.path.startswith(prefix + "/files/") and self.path.endswith("/content"):
                    key = urllib.parse.unquote(self.path[len(prefix + "/files/"):-len("/content")])
                    if key in fake.files:
                        return self._send_file(key)
                self._send(404, b"not found", "text/plain")

            def _send(self, code, body, ctype, extra=None, limit=None):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body if limit is None else body[:limit])
                self.wfile.flush()

            def _send_file(self, key):
                data = fake.files[key]
                rng = self.headers.get("Range")
                drops = fake.drop_after.get(key)
                limit = drops.pop(0) if drops else None
                if rng and not fake.ignore_range:
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        return self._send(416, b"", "text/plain", {"Content-Range": f"bytes */{len(data)}"})
                    extra = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
                    return self._send(206, data[start:], "application/zip", extra, limit)
                self._send(200, data, "application/zip", None, limit)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)

    def record_json(self) -> dict:
        host = "https://zenodo.org/api" if self.zenodo_links else self.url
        files = []
        for key, data in self.files.items():
            md5 = hashlib.md5(data).hexdigest()
            if key in self.bad_md5:
                md5 = "0" * 32
            files.append({"id": key, "key": key, "size": len(data), "checksum": f"md5:{md5}",
                          "links": {"self": f"{host}/records/{RECORD}/files/{key}/content"}})
        return {"id": RECORD, "metadata": {"title": "FSDKaggle2018"}, "files": files}

    def file_requests(self, key):
        return [rng for path, rng in self.requests if f"/files/{key}/" in path]


@pytest.fixture
def zenodo():
    fake = FakeZenodo(zenodo_archives())
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def assert_loads(dest: Path):
    ds = load_dataset(dest)
    assert ds.name == "fsdkaggle2018" and ds.classes == LABELS
    assert ds.train["fname"].tolist() == [r[0] for r in TRAIN]
    assert ds.scored_test()["usage"].tolist() == ["Public", "Private"]
    assert all(Path(p).is_file() for p in ds.train["path"])
    return ds


@pytest.mark.parametrize("zenodo_links", [False, True], ids=["mirror-links", "zenodo-links"])
def test_full_download_extracts_and_loads(zenodo, tmp_path, zenodo_links):
    zenodo.zenodo_links = zenodo_links  # Zenodo's own links must still be fetched from the mirror
    dest = download_fsdkaggle2018(tmp_path / "fsd", base_url=zenodo.url, progress=False, config=FAST)
    assert dest == (tmp_path / "fsd").resolve()
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        ["FSDKaggle2018.audio_train", "FSDKaggle2018.audio_test", "FSDKaggle2018.meta", "FSDKaggle2018.doc",
         MARKER_NAME])  # archives and work folder cleaned up
    assert_loads(dest)
    marker = json.loads((dest / MARKER_NAME).read_text())
    assert marker["record"] == RECORD and marker["complete"]
    assert marker["files"]["FSDKaggle2018.meta.zip"]["folders"] == ["FSDKaggle2018.meta"]
    assert len(zenodo.requests) == 5  # metadata + one request per archive


def test_interrupted_transfer_resumes_with_range(zenodo, tmp_path):
    key = "FSDKaggle2018.audio_train.zip"
    zenodo.drop_after[key] = [5000]
    dest = download_fsdkaggle2018(tmp_path, base_url=zenodo.url, progress=False, config=FAST)
    assert zenodo.file_requests(key) == [None, "bytes=5000-"]
    ds = assert_loads(dest)
    extracted = Path(ds.train["path"][0]).read_bytes()
    assert extracted == wav_bytes(0)  # the resumed bytes are the right bytes


def test_partial_file_from_an_earlier_run_is_resumed(zenodo, tmp_path):
    key = "FSDKaggle2018.audio_train.zip"
    zenodo.drop_after[key] = [3000, 0]  # the retry (which resets after progress) gets nothing either
    no_retry = DownloadConfig(max_retries=0, backoff_s=0.01, timeout_s=5)
    with pytest.raises(DownloadError, match="run again to resume from 3000 bytes"):
        download_fsdkaggle2018(tmp_path, base_url=zenodo.url, progress=False, config=no_retry)
    assert (tmp_path / WORK_DIR_NAME / f"{key}.part").stat().st_size == 3000
    assert not (tmp_path / "FSDKaggle2018.meta").exists()  # nothing extracted from a failed run
    download_fsdkaggle2018(tmp_path, base_url=zenodo.url, progress=False, config=FAST)
    assert zenodo.file_requests(key) == [None, "bytes=3000-", "bytes=3000-"]
    assert_loads(tmp_path)


def test_server_ignoring_range_restarts_cleanly(zenodo, tmp_path):
    key = "FSDKaggle2018.audio_train.zip"
    zenodo.drop_after[key] = [5000]
    zenodo.ignore_range = True
    download_fsdkaggle2018(tmp_path, base_url=zenodo.url, progress=False, config=FAST)
    assert zenodo.file_requests(key) == [None, "bytes=5000-"]  # asked to resume, got the whole file
    assert_loads(tmp_path)


def test_checksum_mismatch_fails_loudly_and_keeps_nothing_bad(zenodo, tmp_path):
    bad = "FSDKaggle2018.meta.zip"
    zenodo.bad_md5.add(bad)
    with pytest.raises(DownloadError) as err:
        download_fsdkaggle2018(tmp_path, base_url=zenodo.url, progress=False, config=FAST)
    actual = hashlib.md5(zenodo.files[bad]).hexdigest()
    msg = str(err.value)
    assert bad in msg and f"expected {'0' * 32}" in msg and f"got {actual}" in msg
    leftovers = [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")]
    assert not any(p.startswith("FSDKaggle2018.") for p in leftovers)  # nothing extracted
    assert not any(bad in p for p in leftovers)  # neither the bad archive nor its .part
    assert not (tmp_path / MARKER_NAME).exists()


def test_second_run_is_idempotent_without_network(zenodo, tmp_path):
    download_fsdkaggle2018(tmp_path, base_url=zenodo.url, progress=False, config=FAST)
    zenodo.requests.clear()
    download_fsdkaggle2018(tmp_path, base_url=zenodo.url, progress=False, config=FAST)
    assert zenodo.requests == []
    # not even the metadata is needed: an unreachable server does not matter
    download_fsdkaggle2018(tmp_path, base_url="http://127.0.0.1:9/api", progress=False, config=FAST)
    assert_loads(tmp_path)


def test_subset_then_rest_downloads_each_archive_once(zenodo, tmp_path):
    download_fsdkaggle2018(tmp_path, base_url=zenodo.url, progress=False, config=FAST,
                           files=["FSDKaggle2018.meta.zip"])
    assert (tmp_path / "FSDKaggle2018.meta").is_dir() and not (tmp_path / "FSDKaggle2018.audio_train").exists()
    assert not json.loads((tmp_path / MARKER_NAME).read_text())["complete"]
    download_fsdkaggle2018(tmp_path, base_url=zenodo.url, progress=False, config=FAST)
    assert zenodo.file_requests("FSDKaggle2018.meta.zip") == [None]
    assert_loads(tmp_path)
    with pytest.raises(DownloadError, match="has no file.*nope.zip"):
        download_fsdkaggle2018(tmp_path / "other", base_url=zenodo.url, progress=False, files=["nope.zip"])


def test_unreachable_server_and_missing_record_fail_with_download_error(zenodo, tmp_path):
    with pytest.raises(DownloadError, match="failed after 3 retries"):
        download_fsdkaggle2018(tmp_path, base_url="http://127.0.0.1:9/api", progress=False, config=FAST)
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_fsdkaggle2018(tmp_path, base_url=zenodo.url, record=1, progress=False, config=FAST)


def test_unsafe_zip_member_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(zip_bytes({"ok/a.txt": b"a", "../escape.txt": b"x"}))
    (tmp_path / "dest").mkdir()
    with pytest.raises(DownloadError, match="unsafe member path '../escape.txt'"):
        extract_zip(archive, tmp_path / "dest")
    assert not (tmp_path / "escape.txt").exists() and not any((tmp_path / "dest").iterdir())


def test_cli_download(zenodo, tmp_path):
    dest = tmp_path / "cli"
    assert cli_main(["data", "download", "fsdkaggle2018", "--dest", str(dest), "--base-url", zenodo.url,
                     "--quiet"]) == 0
    assert_loads(dest)
