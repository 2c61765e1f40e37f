"""Download FSDKaggle2018 from Zenodo: streamed, resumable, MD5-verified, extracted atomically.

FSDKaggle2018 is Zenodo record 2552860: four zips (``FSDKaggle2018.audio_train.zip``, by far the largest,
``FSDKaggle2018.audio_test.zip``, ``FSDKaggle2018.meta.zip``, ``FSDKaggle2018.doc.zip``), each unpacking into one
top-level folder of the same name. :func:`download_fsdkaggle2018` turns that record into a folder that
:func:`audiotag.data.datasets.load_dataset` loads directly.

How it works, step by step:

1. **Metadata.** ``GET {base_url}/records/{record}`` (the Zenodo REST API; ``base_url`` defaults to
   ``https://zenodo.org/api``) returns JSON whose ``files`` list gives, per file, ``key`` (its name), ``size``,
   ``checksum`` (``"md5:<hex>"``) and ``links.self`` (its download URL). A mirror only has to serve the same
   shape; file links pointing to another host are redirected to the mirror's
   ``{base_url}/records/{record}/files/{key}/content``.
2. **Streamed download with resume.** Each file is written to ``dest/.download/<key>.part`` in 1 MiB chunks
   behind a ``tqdm`` progress bar. If the connection drops, the next attempt (immediately, or in a later run)
   asks for the rest with an HTTP ``Range: bytes=<have>-`` header. A server that ignores ``Range`` answers
   ``200`` with the whole file; the partial file is then discarded and the transfer restarts cleanly.
   Connection errors and 5xx/429 answers are retried with exponential backoff (or after the server's
   ``Retry-After``), a bounded number of times.
3. **Verification.** The finished file's MD5 must equal the record's checksum; otherwise the file is deleted
   and :class:`DownloadError` names it with both checksums. Every archive is downloaded and verified before
   any is extracted, so a failed run never leaves a partial dataset.
4. **Atomic extraction.** Each zip is extracted into a temporary folder inside ``dest``; only then is each
   top-level folder renamed into place, and the archive deleted. An interrupted extraction leaves no
   half-filled dataset folder behind.
5. **Marker.** ``dest/fsdkaggle2018_download.json`` records what is installed (record, files, MD5s,
   folders). Running again finds it and returns at once, with no network access at all.

Disk space: the dataset is about 20 h of 44.1 kHz 16-bit mono audio (roughly 6 GB unpacked); while installing,
the archives need room beside it, so allow about twice that. Only the standard library (``urllib``) speaks HTTP here.
A few real clips per class instead of the whole zips: :mod:`audiotag.data.subset` (``--per-class N``).
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Iterable

from audiotag.fileio import read_json, write_json

#: The Zenodo record of FSDKaggle2018 and the API it is served by.
FSDKAGGLE2018_RECORD = 2552860
ZENODO_API = "https://zenodo.org/api"
#: Written into ``dest`` once everything requested is installed.
MARKER_NAME = "fsdkaggle2018_download.json"
#: Working folder inside ``dest`` for partial downloads and extraction; removed when it ends up empty.
WORK_DIR_NAME = ".download"
#: Archive members never installed (macOS resource forks).
IGNORED_MEMBERS = ("__MACOSX/",)


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("audiotag")
    except Exception:  # not installed (run from a source tree)
        return "0"


#: Sent with every request: who is asking, and where to read about it.
USER_AGENT = f"audiotag/{_package_version()} (+https://zenodo.org/records/2552860; DCASE 2018 Task 2 reproduction)"
#: The longest ``Retry-After`` honoured; a server asking for more fails the request (run again later to resume).
MAX_RETRY_AFTER_S = 600.0


class DownloadError(RuntimeError):
    """A download that failed for good (after retries), or a file that failed verification."""


@dataclass(frozen=True)
class DownloadConfig:
    """Network settings. ``max_retries`` bounds consecutive failed attempts per request (an attempt that
    made progress resets the count); the wait before retry *n* is ``min(backoff_s * 2**(n-1), max_backoff_s)``."""

    chunk_size: int = 1 << 20
    timeout_s: float = 60.0
    max_retries: int = 6
    backoff_s: float = 2.0
    max_backoff_s: float = 60.0


@dataclass(frozen=True)
class RemoteFile:
    """One file of a Zenodo record, as its metadata describes it."""

    key: str
    size: int | None
    md5: str
    url: str


# --------------------------------------------------------------------------------------------------- public


def download_fsdkaggle2018(dest: str | os.PathLike, *, base_url: str | None = None,
                           record: int = FSDKAGGLE2018_RECORD, progress: bool = True,
                           files: Iterable[str] | None = None, config: DownloadConfig | None = None) -> Path:
    """Download and extract FSDKaggle2018 (Zenodo record ``record``) into ``dest``; return ``dest``.

    ``files``: the record's file keys to fetch (e.g. ``["FSDKaggle2018.meta.zip"]``); default all of them.
    ``base_url``: the API root of a mirror serving Zenodo's record JSON (default ``https://zenodo.org/api``).
    Safe to interrupt and re-run: a partial transfer resumes, a finished one is not repeated.
    """
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    config = config or DownloadConfig()
    api = (base_url or ZENODO_API).rstrip("/")
    wanted = None if files is None else sorted(set(files))

    marker = _read_marker(dest)
    if _marker_covers(marker, dest, record, wanted):
        _say(progress, f"FSDKaggle2018 already installed in {dest} (see {MARKER_NAME}); nothing to do.")
        return dest

    _say(progress, f"Reading the file list of record {record} from {api}/records/{record}")
    remote = fetch_record_files(record, api, config)
    selected = _select(remote, wanted, record)
    installed = dict(marker.get("files", {})) if marker.get("record") == record else {}
    work = dest / WORK_DIR_NAME
    work.mkdir(exist_ok=True)
    for stale in work.glob("extract-*"):  # left by a run killed mid-extraction
        shutil.rmtree(stale, ignore_errors=True)
    todo = []
    for rf in selected:
        done = installed.get(rf.key)
        if done and done.get("md5") == rf.md5 and all((dest / d).exists() for d in done.get("folders", [])):
            _say(progress, f"{rf.key}: already installed")
        else:
            todo.append(rf)
    # Download and verify every archive before extracting any: a failed run never leaves a partial dataset.
    for rf in todo:
        archive = work / rf.key
        if not (archive.is_file() and _md5_of(archive) == rf.md5):
            download_file(rf, archive, progress=progress, config=config)
    for rf in todo:
        archive = work / rf.key
        _say(progress, f"{rf.key}: extracting into {dest}")
        folders = extract_zip(archive, dest, work)
        archive.unlink()
        installed[rf.key] = {"md5": rf.md5, "size": rf.size, "folders": folders}
        _write_marker(dest, record, api, installed, complete=False)
    all_keys = {rf.key for rf in remote}
    _write_marker(dest, record, api, installed, complete=all_keys <= installed.keys())
    _remove_if_empty(work)
    _say(progress, f"FSDKaggle2018 ready in {dest}")
    return dest


def fetch_record_files(record: int, api: str = ZENODO_API, config: DownloadConfig | None = None) -> list[RemoteFile]:
    """The files of a Zenodo record: ``GET {api}/records/{record}`` and parse its ``files`` list.

    Accepts both Zenodo shapes: ``files`` as a list of ``{key, size, checksum, links}`` and InvenioRDM's
    ``files.entries`` mapping; ``filename``/``filesize`` are read as older spellings of ``key``/``size``.
    """
    config = config or DownloadConfig()
    record_url = f"{api.rstrip('/')}/records/{record}"
    body = _with_retries(record_url, config, lambda: _get_bytes(record_url, config))
    try:
        meta = json.loads(body)
    except ValueError:
        raise DownloadError(f"{record_url}: the answer is not JSON (is the base URL a Zenodo API root?)") from None
    entries = meta.get("files") if isinstance(meta, dict) else None
    if isinstance(entries, dict):
        entries = entries.get("entries", {})
        entries = list(entries.values()) if isinstance(entries, dict) else entries
    if not entries:
        raise DownloadError(f"{record_url}: the record lists no files")
    out = []
    for e in entries:
        key = e.get("key") or e.get("filename")
        checksum = str(e.get("checksum", ""))
        algo, _, digest = checksum.rpartition(":")
        if not key or (algo or "md5").lower() != "md5" or len(digest) != 32:
            raise DownloadError(f"{record_url}: file entry without a name or an MD5 checksum: {e}")
        size = e.get("size", e.get("filesize"))
        links = e.get("links") or {}
        link = links.get("self") or links.get("content") or links.get("download")
        out.append(RemoteFile(key=key, size=None if size is None else int(size), md5=digest.lower(),
                              url=_file_url(link, record_url, api, record, key)))
    return out


def download_file(rf: RemoteFile, target: str | os.PathLike, *, progress: bool = True,
                  config: DownloadConfig | None = None) -> Path:
    """Stream ``rf`` to ``target`` (via ``target.part``, resuming it with HTTP Range), then verify its MD5.

    On a checksum mismatch the file is deleted and :class:`DownloadError` names the file, the expected and
    the actual MD5.
    """
    from tqdm.auto import tqdm

    config = config or DownloadConfig()
    target = Path(target)
    part = target.with_name(target.name + ".part")
    part.parent.mkdir(parents=True, exist_ok=True)
    have = part.stat().st_size if part.exists() else 0
    if rf.size is not None and have > rf.size:  # cannot be a prefix of the real file
        part.unlink()
        have = 0
    with tqdm(total=rf.size, initial=have, unit="B", unit_scale=True, unit_divisor=1024, desc=rf.key,
              disable=not progress, leave=True) as bar:
        failures = 0
        while rf.size is None or have < rf.size:
            before = have
            try:
                have = _transfer(rf, part, have, bar, config)
                if rf.size is None or have >= rf.size:
                    break
                raise ConnectionError(f"connection closed at byte {have} of {rf.size}")
            except _RETRYABLE as exc:
                have = part.stat().st_size if part.exists() else 0
                failures = 0 if have > before else failures + 1
                if failures > config.max_retries:
                    raise DownloadError(f"{rf.key}: download failed after {config.max_retries} retries "
                                        f"({_describe(exc)}); run again to resume from {have} bytes") from None
                wait = retry_wait(failures, config, getattr(exc, "retry_after", None))
                if progress:
                    bar.write(f"{rf.key}: {_describe(exc)}; resuming from byte {have} in {wait:.1f} s")
                time.sleep(wait)
    actual = _md5_of(part)
    if actual != rf.md5:
        part.unlink()
        raise DownloadError(f"{rf.key}: MD5 mismatch: expected {rf.md5}, got {actual}. "
                            "The corrupt download was deleted; run again to fetch it anew.")
    os.replace(part, target)
    return target


def extract_zip(archive: str | os.PathLike, dest: str | os.PathLike,
                work: str | os.PathLike | None = None) -> list[str]:
    """Extract ``archive`` into ``dest`` atomically; return the top-level names it installed.

    Everything is first extracted into a temporary folder (in ``work``, on the same file system as
    ``dest``), then each top-level entry is renamed into ``dest``, replacing an older copy. Members with
    absolute paths or ``..`` are refused.
    """
    archive, dest = Path(archive), Path(dest)
    work = Path(work) if work is not None else dest
    try:
        with zipfile.ZipFile(archive) as zf:
            members = [m for m in zf.namelist() if not m.startswith(IGNORED_MEMBERS)]
            for name in members:
                parts = PurePosixPath(name.replace("\\", "/")).parts
                if name.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                    raise DownloadError(f"{archive.name}: unsafe member path {name!r}; refusing to extract")
            tmp = Path(tempfile.mkdtemp(prefix=f"extract-{archive.stem}-", dir=work))
            try:
                zf.extractall(tmp, members=members)
                names = sorted(p.name for p in tmp.iterdir())
                for name in names:
                    target = dest / name
                    if target.is_dir() and not target.is_symlink():
                        shutil.rmtree(target)
                    elif target.exists() or target.is_symlink():
                        target.unlink()
                    os.replace(tmp / name, target)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{archive.name}: not a valid zip archive ({exc})") from None
    return names


# --------------------------------------------------------------------------------------------------- HTTP

_RETRYABLE = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, socket.timeout)


class _RetryableHTTP(urllib.error.URLError):
    """A 5xx/408/429 answer: worth another try (after ``retry_after`` seconds, if the server said so)."""

    def __init__(self, reason, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header as seconds to wait: ``"120"`` or an HTTP date; ``None`` if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime

        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def retry_wait(failures: int, config: DownloadConfig, retry_after: float | None = None) -> float:
    """Seconds to wait before retry number ``failures`` (1, 2, ...): the server's ``Retry-After`` when it gave one
    (it knows best; :class:`DownloadError` if it asks for more than :data:`MAX_RETRY_AFTER_S`), else exponential
    backoff ``min(backoff_s * 2**(failures-1), max_backoff_s)``."""
    if retry_after is not None:
        if retry_after > MAX_RETRY_AFTER_S:
            raise DownloadError(f"the server asks to wait {retry_after:.0f} s before the next request; "
                                "run the same command again later (it resumes)")
        return retry_after
    return min(config.backoff_s * 2 ** max(failures - 1, 0), config.max_backoff_s)


def _request(url: str, config: DownloadConfig, headers: dict | None = None):
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    try:
        return urllib.request.urlopen(req, timeout=config.timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code in (408, 429):
            retry_after = retry_after_seconds(exc.headers.get("Retry-After") if exc.headers else None)
            raise _RetryableHTTP(f"HTTP {exc.code} {exc.reason} from {url}", retry_after) from None
        if exc.code == 416:
            raise
        raise DownloadError(f"HTTP {exc.code} {exc.reason} from {url}") from None


def _get_bytes(url: str, config: DownloadConfig) -> bytes:
    with _request(url, config, {"Accept": "application/json"}) as resp:
        return resp.read()


def _with_retries(what: str, config: DownloadConfig, fn):
    for attempt in range(config.max_retries + 1):
        try:
            return fn()
        except _RETRYABLE as exc:
            if attempt == config.max_retries:
                raise DownloadError(f"{what}: failed after {config.max_retries} retries ({_describe(exc)})") from None
            time.sleep(retry_wait(attempt + 1, config, getattr(exc, "retry_after", None)))


def _transfer(rf: RemoteFile, part: Path, have: int, bar, config: DownloadConfig) -> int:
    """One HTTP request writing to ``part`` from byte ``have`` until the stream ends; returns the bytes held."""
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        resp = _request(rf.url, config, headers)
    except urllib.error.HTTPError as exc:  # 416: the server cannot resume from our partial file
        if exc.code == 416:
            part.unlink(missing_ok=True)
            bar.reset(total=rf.size)
            raise ConnectionError(f"HTTP 416: cannot resume from byte {have}; restarting from 0") from None
        raise
    with resp:
        if have and resp.status == 206 and _range_start(resp.headers.get("Content-Range")) == have:
            mode = "ab"
        else:  # fresh start, or the server ignored Range and sends the whole file: restart cleanly
            if have:
                bar.reset(total=rf.size)
            have, mode = 0, "wb"
        with open(part, mode) as fh:
            while True:
                chunk = resp.read(config.chunk_size)
                if not chunk:
                    break
                fh.write(chunk)
                have += len(chunk)
                bar.update(len(chunk))
    return have


def _range_start(content_range: str | None) -> int | None:
    """The first byte of ``Content-Range: bytes 100-199/200``."""
    try:
        return int(content_range.split()[1].split("-")[0])
    except (AttributeError, IndexError, ValueError):
        return None


def _file_url(link: str | None, record_url: str, api: str, record: int, key: str) -> str:
    """The file's download URL: its link (relative links resolved), kept on the mirror's host."""
    mirror = f"{api}/records/{record}/files/{urllib.parse.quote(key)}/content"
    if not link:
        return mirror
    url = urllib.parse.urljoin(record_url + "/", link)
    if urllib.parse.urlsplit(url).netloc != urllib.parse.urlsplit(api).netloc:
        return mirror
    return url


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return f"{type(exc).__name__}: {reason or exc}"


# --------------------------------------------------------------------------------------------------- bookkeeping


def _select(remote: list[RemoteFile], wanted: list[str] | None, record: int) -> list[RemoteFile]:
    if wanted is None:
        return remote
    by_key = {rf.key: rf for rf in remote}
    unknown = [k for k in wanted if k not in by_key]
    if unknown:
        raise DownloadError(f"record {record} has no file(s) {', '.join(unknown)}; it has {', '.join(by_key)}")
    return [by_key[k] for k in wanted]


def _read_marker(dest: Path) -> dict:
    path = dest / MARKER_NAME
    if not path.is_file():
        return {}
    try:
        marker = read_json(path)
    except (ValueError, OSError):
        return {}
    return marker if isinstance(marker, dict) else {}


def _marker_covers(marker: dict, dest: Path, record: int, wanted: list[str] | None) -> bool:
    """True if the marker says every requested file of ``record`` is installed and its folders exist."""
    if marker.get("record") != record:
        return False
    files = marker.get("files", {})
    if wanted is None:
        if not marker.get("complete"):
            return False
        wanted = list(files)
    return all(k in files and all((dest / d).exists() for d in files[k].get("folders", [])) for k in wanted)


def _write_marker(dest: Path, record: int, api: str, installed: dict, complete: bool) -> None:
    write_json(dest / MARKER_NAME, {
        "dataset": "FSDKaggle2018",
        "record": record,
        "source": f"{api}/records/{record}",
        "complete": complete,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": installed,
    })


def _md5_of(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, flush=True)
