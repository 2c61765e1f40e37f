"""A loopback mirror of Zenodo record 2552860 (FSDKaggle2018) for the tests: the record's JSON at
/api/records/2552860 and its zips, built in the record's member layout (``FSDKaggle2018.audio_train/<fname>.wav``,
the meta zip's CSVs with their real columns), served with HTTP Range (``a-b``, ``a-``, ``-n``) and misbehaving on
request (see :class:`Mirror`). ``tests/test_download_subset.py`` tests the download against it;
``tests/test_book_subset.py`` builds the book on a subset downloaded from it.
"""
import hashlib
import http.server
import io
import json
import struct
import threading
import time
import urllib.parse
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from audiotag.data import subset
from audiotag.data.download import DownloadConfig
from audiotag.data.labels import LABELS

RECORD = 2552860
FAST = DownloadConfig(backoff_s=0.0, max_backoff_s=0.0, max_retries=3, timeout_s=5)
TRAIN_HEADER = ["fname", "label", "manually_verified", "freesound_id", "license"]
TEST_HEADER = ["fname", "label", "usage", "freesound_id", "license"]
TRAIN_ZIP, TEST_ZIP, META_ZIP = subset.AUDIO_ZIPS["train"], subset.AUDIO_ZIPS["test"], subset.META_ZIP


def wav_bytes(seed: int, samples: int = 1500) -> bytes:
    buf = io.BytesIO()
    wave = np.random.default_rng(seed).uniform(-0.5, 0.5, samples).astype(np.float32)
    sf.write(buf, wave, 44100, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def zip_bytes(members: dict[str, bytes], method=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def csv_bytes(header, rows) -> bytes:
    return pd.DataFrame(rows, columns=header).to_csv(index=False).encode()


class Corpus:
    """A miniature record: per class ``verified[c]`` verified + ``unverified[c]`` other train clips, ``scored`` test
    clips (Public / Private alternating) and one unscored ``Ignored`` clip; WAVs of ``samples`` samples."""

    def __init__(self, labels, verified, unverified, scored, samples=1500):
        self.train_rows, self.test_rows, self.wavs = [], [], {}
        n = 0
        for c, label in enumerate(labels):
            for j in range(verified[c] + unverified[c]):
                fname = f"{zlib.crc32(f'train{c}/{j}'.encode()):08x}.wav"  # real names look like 00044347.wav
                self.train_rows.append((fname, label, int(j < verified[c]), 1000 + n, "Attribution"))
                self.wavs[("train", fname)] = wav_bytes(n, samples)
                n += 1
            for j in range(scored + 1):
                fname = f"{zlib.crc32(f'test{c}/{j}'.encode()):08x}.wav"
                usage = "Ignored" if j == scored else ("Public" if j % 2 else "Private")
                self.test_rows.append((fname, label, usage, 5000 + n, "Creative Commons 0"))
                self.wavs[("test", fname)] = wav_bytes(n, samples)
                n += 1

    def archives(self) -> dict[str, bytes]:
        train = {f"FSDKaggle2018.audio_train/{f}": self.wavs[("train", f)] for f, *_ in self.train_rows}
        test = {f"FSDKaggle2018.audio_test/{f}": self.wavs[("test", f)] for f, *_ in self.test_rows}
        return {
            TRAIN_ZIP: zip_bytes(train, zipfile.ZIP_DEFLATED),  # deflated and stored members: both are read
            TEST_ZIP: zip_bytes(test),
            META_ZIP: zip_bytes({
                "FSDKaggle2018.meta/train_post_competition.csv": csv_bytes(TRAIN_HEADER, self.train_rows),
                "FSDKaggle2018.meta/test_post_competition_scoring_clips.csv": csv_bytes(TEST_HEADER, self.test_rows),
            }),
        }


LABELS4 = [LABELS[0], LABELS[5], LABELS[17], LABELS[40]]
SMALL = dict(labels=LABELS4, verified=[5, 4, 1, 0], unverified=[3, 2, 4, 5], scored=4)


class Mirror:
    """A loopback Zenodo mirror; ``log`` holds (path, range, status, body bytes sent, user agent, time) per request.

    A *member read* is a Range request to an audio zip that starts at a member's local header.
    ``too_many``: answer 429 (Retry-After: 0) to the next that many requests of any kind; ``too_many_audio``: to
    the next that many requests for an audio zip.
    ``drop[name]``: the next that many reads of member ``name`` send half their bytes, then hang up.
    ``flip[name]``: the next that many reads of member ``name`` carry one flipped byte of its data.
    ``members_before_outage``: after that many member reads, answer 503 to every member read.
    ``ignore_range``: answer every file request with 200 and the whole file.
    """

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.log = []
        self.too_many = 0
        self.too_many_audio = 0
        self.drop: dict[str, int] = {}
        self.flip: dict[str, int] = {}
        self.members_before_outage = None
        self.ignore_range = False
        self.lock = threading.Lock()
        self.layout = {key: self._layout(data) for key, data in files.items()}  # key -> {offset: (name, a, b)}
        mirror = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                mirror.handle(self)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @staticmethod
    def _layout(data: bytes) -> dict[int, tuple[str, int, int]]:
        out = {}
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for info in zf.infolist():
                o = info.header_offset
                n, e = struct.unpack("<HH", data[o + 26:o + 30])
                out[o] = (info.filename, o + 30 + n + e, o + 30 + n + e + info.compress_size)
        return out

    def record_json(self) -> dict:
        files = [{"id": key, "key": key, "size": len(data), "checksum": f"md5:{hashlib.md5(data).hexdigest()}",
                  "links": {"self": f"{self.url}/records/{RECORD}/files/{key}/content"}}
                 for key, data in self.files.items()]
        return {"id": RECORD, "metadata": {"title": "FSDKaggle2018"}, "files": files}

    def handle(self, h):
        rng = h.headers.get("Range")
        entry = {"path": h.path, "range": rng, "agent": h.headers.get("User-Agent"), "time": time.monotonic(),
                 "member": None, "sent": 0}
        with self.lock:
            self.log.append(entry)
            if self.too_many > 0:
                self.too_many -= 1
                return self._send(h, entry, 429, b"slow down", {"Retry-After": "0"})
            if self.too_many_audio > 0 and ".audio_" in h.path:
                self.too_many_audio -= 1
                return self._send(h, entry, 429, b"slow down", {"Retry-After": "0"})
        prefix = f"/api/records/{RECORD}"
        if h.path == prefix:
            return self._send(h, entry, 200, json.dumps(self.record_json()).encode())
        key = urllib.parse.unquote(h.path[len(prefix + "/files/"):-len("/content")])
        if not (h.path.startswith(prefix + "/files/") and h.path.endswith("/content") and key in self.files):
            return self._send(h, entry, 404, b"not found")
        data = self.files[key]
        if not rng or self.ignore_range:
            return self._send(h, entry, 200, data)
        first, _, last = rng.removeprefix("bytes=").partition("-")
        start, end = (len(data) - int(last), len(data) - 1) if not first else (
            int(first), min(int(last) if last else len(data) - 1, len(data) - 1))
        start = max(start, 0)
        if start >= len(data) or end < start:
            return self._send(h, entry, 416, b"", {"Content-Range": f"bytes */{len(data)}"})
        body, limit = bytearray(data[start:end + 1]), None
        member = self.layout[key].get(start)
        with self.lock:
            if member:
                name, a, b = member
                entry["member"] = name
                served = len(self.member_reads())
                if self.members_before_outage is not None and served >= self.members_before_outage:
                    return self._send(h, entry, 503, b"down for maintenance")
                if self.flip.get(name, 0) > 0:
                    self.flip[name] -= 1
                    body[(a + b) // 2 - start] ^= 0x5A
                if self.drop.get(name, 0) > 0:
                    self.drop[name] -= 1
                    limit = len(body) // 2
        extra = {"Content-Range": f"bytes {start}-{end}/{len(data)}"}
        self._send(h, entry, 206, bytes(body), extra, limit)

    def _send(self, h, entry, code, body, extra=None, limit=None):
        entry["status"] = code
        h.send_response(code)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.end_headers()
        out = body if limit is None else body[:limit]
        h.wfile.write(out)
        h.wfile.flush()
        entry["sent"] = len(out)
        if limit is not None:
            h.close_connection = True

    def member_reads(self, status=206) -> list[str]:
        return [e["member"] for e in self.log if e["member"] and e.get("status") == status]

    def zip_requests(self) -> list[dict]:
        return [e for e in self.log if e["path"].endswith(".zip/content") and META_ZIP not in e["path"]]


def start(files) -> Mirror:
    mirror = Mirror(files)
    mirror.thread.start()
    return mirror


def stop(mirror: Mirror) -> None:
    mirror.server.shutdown()
    mirror.server.server_close()


def dataset_archives(root: Path) -> dict[str, bytes]:
    """The record's three zips holding a dataset folder in the Kaggle layout (``train_post_competition.csv``,
    ``test_post_competition.csv``, ``audio_train/``, ``audio_test/``): its clips as members, its CSVs in the meta zip
    (the test CSV under the record's name for the scored clips)."""
    root = Path(root)
    train = pd.read_csv(root / "train_post_competition.csv")
    test = pd.read_csv(root / "test_post_competition.csv")
    return {
        TRAIN_ZIP: zip_bytes({f"FSDKaggle2018.audio_train/{f}": (root / "audio_train" / f).read_bytes()
                              for f in train["fname"]}),
        TEST_ZIP: zip_bytes({f"FSDKaggle2018.audio_test/{f}": (root / "audio_test" / f).read_bytes()
                             for f in test["fname"]}),
        META_ZIP: zip_bytes({
            "FSDKaggle2018.meta/train_post_competition.csv": train.to_csv(index=False).encode(),
            "FSDKaggle2018.meta/test_post_competition_scoring_clips.csv": test.to_csv(index=False).encode(),
        }),
    }
