"""A class-stratified subset of FSDKaggle2018: a few real clips per class, read out of Zenodo's zips by HTTP Range.

The whole dataset is over 5 GB of zips (:mod:`audiotag.data.download`). A zip ends with a central directory that
gives every member's offset, size and CRC-32, so a client that may ask for byte ranges reads the directory and then
only the members it wants. :func:`download_fsdkaggle2018_subset` does that and leaves a folder in the Kaggle layout
that :func:`audiotag.data.datasets.load_dataset` loads like any other copy of the dataset::

    dest/audio_train/<fname>.wav, dest/audio_test/<fname>.wav
    dest/train_post_competition.csv    the chosen train rows, all columns (fname,label,manually_verified,...)
    dest/test_post_competition.csv     the chosen test rows, all columns, ``usage`` kept (fname,label,usage,...)
    dest/fsdkaggle2018_subset.json     what was chosen and how (record, seed, counts, members, sizes, CRC-32s)

Step by step:

1. **Record.** :func:`~audiotag.data.download.fetch_record_files` reads the record's JSON (``{base_url}/records/
   2552860``): each zip's name, size, MD5 and link, as for the full download.
2. **Metadata.** ``FSDKaggle2018.meta.zip`` (well under 1 MB) is downloaded whole with
   :func:`~audiotag.data.download.download_file` (resumable, MD5-checked) into ``dest/.download``.
3. **Selection** (:func:`select_subset`). For each class of the train CSV: its manually verified clips in a
   shuffled order, then (unless ``verified_only``) its other clips in a shuffled order; the first ``per_class``.
   For each class of the scored test clips (``usage`` Public or Private): shuffled, the first ``test_per_class``.
   Every shuffle is seeded by the seed and the class name alone, so a class's pick depends on nothing else, and a
   larger ``per_class`` keeps the clips of a smaller one (20 per class is the first 20 of 40 per class).
4. **Directories.** :class:`remotezip.RemoteZip` (a :class:`zipfile.ZipFile` over HTTP Range) opens the train and
   test zips at :func:`range_url`: one request for the zip's last 64 KiB, and one more if the central directory
   is larger (the train zip's 9,473 entries take about 1 MB).
5. **Members.** A clip already in ``dest`` whose size and CRC-32 equal the directory's is kept. Every other one is
   read with one Range request (its local header and data), checked against its CRC-32 as it streams
   (:mod:`zipfile` raises on a mismatch) and written atomically (:func:`audiotag.fileio.atomic_path`). A dropped
   connection or a failed CRC reopens the zip and retries the member with backoff; a tqdm bar counts the bytes.
6. **Tables and record.** Once every clip is in place the two CSVs are written with the chosen rows, the folder is
   loaded once as a check, and ``fsdkaggle2018_subset.json`` is written; clips of an earlier, different subset
   that are no longer chosen are removed, and so is ``dest/.download``. Running again with the same arguments
   checks every clip (size and CRC-32) against that record and returns without touching the network; an
   interrupted run resumes, fetching only what is missing.

HTTP goes through :class:`PoliteSession` (a :class:`requests.Session`, remotezip's own HTTP library): a named
User-Agent, at most one request per ``request_interval_s`` (1 s by default), 429/408/5xx answers and failed
connections retried with exponential backoff or after the server's ``Retry-After``, and a suffix range
(``bytes=-N``) sent as an explicit one, since the record gives each zip's size (no HEAD request, no reliance on
suffix ranges). A server that ignores ``Range`` (answers 200 with the whole file) is caught at its first answer,
which is closed unread, and reported with a :class:`~audiotag.data.download.DownloadError` that says how to
download the whole dataset instead.
"""
from __future__ import annotations

import os
import re
import time
import urllib.parse
import zipfile
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import requests
import urllib3
from remotezip import RemoteZip, RemoteZipError

from audiotag.data import download as dl
from audiotag.data.datasets import KAGGLE_LAYOUT, SCORED_USAGES
from audiotag.data.download import FSDKAGGLE2018_RECORD, ZENODO_API, DownloadConfig, DownloadError, RemoteFile
from audiotag.fileio import atomic_path, read_json, write_json, write_text

#: Written into ``dest`` once the subset is complete.
SUBSET_RECORD_NAME = "fsdkaggle2018_subset.json"
META_ZIP = "FSDKaggle2018.meta.zip"
#: The audio zip of each split, and the metadata CSV (inside the meta zip) that lists its clips.
AUDIO_ZIPS = {"train": "FSDKaggle2018.audio_train.zip", "test": "FSDKaggle2018.audio_test.zip"}
META_CSVS = {"train": "train_post_competition.csv", "test": "test_post_competition_scoring_clips.csv"}
REQUIRED_COLUMNS = {"train": ("fname", "label", "manually_verified"), "test": ("fname", "label", "usage")}
#: Where each split goes in ``dest`` (the Kaggle layout of :mod:`audiotag.data.datasets`): audio folder, CSV.
OUTPUT = {"train": (KAGGLE_LAYOUT.train_audio, KAGGLE_LAYOUT.train_csvs[0]),
          "test": (KAGGLE_LAYOUT.test_audio, KAGGLE_LAYOUT.test_csvs[0])}
DEFAULT_SEED = 0
DEFAULT_REQUEST_INTERVAL_S = 1.0
#: Bytes asked for when a zip is opened (its end: the end-of-directory record and, if small, the directory).
TAIL_BYTES = 64 * 1024

_TRUE = {"1", "true", "yes", "y", "t"}
# What reading a member over HTTP may raise when the connection or the bytes go wrong: worth another try.
# (DownloadError, raised by PoliteSession once its own retries are spent or for a server without Range, is not.)
_READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, RemoteZipError, urllib3.exceptions.HTTPError)


# --------------------------------------------------------------------------------------------------- public


def download_fsdkaggle2018_subset(dest: str | os.PathLike, per_class: int, *, test_per_class: int | None = None,
                                  verified_only: bool = False, seed: int = DEFAULT_SEED,
                                  base_url: str | None = None, record: int = FSDKAGGLE2018_RECORD,
                                  request_interval_s: float = DEFAULT_REQUEST_INTERVAL_S, progress: bool = True,
                                  config: DownloadConfig | None = None) -> Path:
    """Fetch ``per_class`` train clips and ``test_per_class`` scored test clips of every class into ``dest``.

    ``test_per_class`` defaults to :func:`default_test_per_class` (half of ``per_class``); 0 fetches no test set.
    ``verified_only``: train clips only from the manually verified ones (a class with fewer gets fewer).
    ``base_url``: the API root of a mirror serving the record's JSON (default Zenodo, ``https://zenodo.org/api``).
    ``request_interval_s``: the least time between two requests to the audio zips. Safe to interrupt and re-run.
    Returns ``dest``.
    """
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    test_per_class = default_test_per_class(per_class) if test_per_class is None else int(test_per_class)
    if test_per_class < 0:
        raise ValueError(f"test_per_class must be 0 or more, got {test_per_class}")
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    config = config or DownloadConfig()
    api = (base_url or ZENODO_API).rstrip("/")
    if (dest / dl.MARKER_NAME).exists():
        raise DownloadError(f"{dest} holds the full FSDKaggle2018 download ({dl.MARKER_NAME}); "
                            "put the subset in another folder")
    settings = {"record": record, "seed": seed, "per_class": per_class, "test_per_class": test_per_class,
                "verified_only": bool(verified_only)}
    previous = _read_subset_record(dest)
    if previous.get("complete") and all(previous.get(k) == v for k, v in settings.items()) \
            and _all_valid(dest, previous.get("members", [])):
        dl._say(progress, f"The FSDKaggle2018 subset is already in {dest} (see {SUBSET_RECORD_NAME}); nothing to do.")
        return dest

    dl._say(progress, f"Reading the file list of record {record} from {api}/records/{record}")
    remote = {rf.key: rf for rf in dl.fetch_record_files(record, api, config)}
    missing = [k for k in (META_ZIP, *AUDIO_ZIPS.values()) if k not in remote]
    if missing:
        raise DownloadError(f"record {record} has no file(s) {', '.join(missing)}; it has {', '.join(remote)}")
    work = dest / dl.WORK_DIR_NAME
    meta_zip = work / META_ZIP
    if not (meta_zip.is_file() and dl._md5_of(meta_zip) == remote[META_ZIP].md5):
        dl.download_file(remote[META_ZIP], meta_zip, progress=progress, config=config)
    tables = read_metadata(meta_zip)
    chosen = select_subset(tables["train"], tables["test"], per_class, test_per_class,
                           verified_only=verified_only, seed=seed)

    hint = "audiotag data download fsdkaggle2018 --dest DIR" + (f" --base-url {api}" if base_url else "")
    session = PoliteSession(config, request_interval_s, no_range_hint=hint)
    session.notify = (lambda message: print(message, flush=True)) if progress else None
    archives: dict[str, _RemoteArchive] = {}
    try:
        plan = []
        for split, rows in chosen.items():
            if rows.empty:
                continue
            rf = remote[AUDIO_ZIPS[split]]
            archive = archives[split] = _RemoteArchive(rf, range_url(rf, api, record), session, config)
            archive.open()
            plan += archive.plan(split, rows["fname"].tolist(), dest / OUTPUT[split][0])
        for split in archives:  # temporary files of a run that was killed mid-member
            for stale in (dest / OUTPUT[split][0]).glob(".*.part"):
                stale.unlink(missing_ok=True)
        todo = [m for m in plan if not _is_valid(m.target, m.size, m.crc)]
        total = sum(m.size for m in todo)
        dl._say(progress, f"{len(plan)} clips chosen ({len(chosen['train'])} train, {len(chosen['test'])} test); "
                          f"{len(plan) - len(todo)} already here; fetching {len(todo)} ({total / 1e6:.1f} MB)")
        from tqdm.auto import tqdm

        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc="FSDKaggle2018 clips",
                  disable=not progress, leave=True) as bar:
            session.notify = bar.write if progress else None
            for m in todo:
                archives[m.split].fetch(m, bar)
    finally:
        for archive in archives.values():
            archive.close()
        session.close()

    _write_tables(dest, chosen)
    from audiotag.data.datasets import load_fsdkaggle2018

    load_fsdkaggle2018(dest)  # the check that the result is a dataset (raises DatasetError naming the problem)
    write_json(dest / SUBSET_RECORD_NAME, _subset_record(settings, api, remote, archives, tables, chosen, plan))
    _prune(dest, previous, plan, chosen)
    meta_zip.unlink(missing_ok=True)
    dl._remove_if_empty(work)
    short = _shortfalls(tables, chosen, per_class, test_per_class, verified_only)
    if short:
        dl._say(progress, "Fewer clips than asked for in: " + "; ".join(short))
    dl._say(progress, f"FSDKaggle2018 subset ready in {dest} ({len(plan)} clips, "
                      f"{sum(m.size for m in plan) / 1e6:.1f} MB)")
    return dest


#: FSDKaggle2018's mean training clip (s): 17.9 h over 9,473 clips (the dataset's paper; benchmarks/bank_memory.py).
MEAN_CLIP_SECONDS = 6.8
#: Bytes of zip directories and metadata a ``--per-class 20`` download reads besides its clips, measured on
#: layout-faithful zips (``tests/test_download_subset.py::test_cost_of_20_clips_per_class``: 1.6 MB).
OVERHEAD_BYTES = 1.6e6


def estimated_bytes(per_class: int, test_per_class: int | None = None, n_classes: int = 41) -> float:
    """About how many bytes a subset download reads: its clips as 16-bit mono WAV at 44.1 kHz of the mean length,
    plus the zips' directories and metadata (an estimate: the real clips last 0.3 to 30 s)."""
    test = default_test_per_class(per_class) if test_per_class is None else test_per_class
    return n_classes * (per_class + test) * (MEAN_CLIP_SECONDS * 44100 * 2 + 44) + OVERHEAD_BYTES


def default_test_per_class(per_class: int) -> int:
    """Scored test clips per class when not given: half the train clips per class, at least 1."""
    return max(1, per_class // 2)


def range_url(rf: RemoteFile, api: str = ZENODO_API, record: int = FSDKAGGLE2018_RECORD) -> str:
    """The URL to read a record file's bytes from by HTTP Range: the one place that knows Zenodo's rule.

    On Zenodo (an ``api`` on zenodo.org or one of its subdomains, such as sandbox.zenodo.org) that is the record's
    file address ``https://zenodo.org/records/<record>/files/<key>``: Zenodo answers Range requests there, but not
    on the ``/api/records/<record>/files/<key>/content`` links its record JSON lists (zenodo/zenodo issue 2593).
    Any other ``api`` is a mirror, read at its own link for the file (``rf.url``, which
    :func:`~audiotag.data.download.fetch_record_files` keeps on the mirror's host).
    """
    parts = urllib.parse.urlsplit(api)
    host = (parts.hostname or "").lower()
    if host == "zenodo.org" or host.endswith(".zenodo.org"):
        return f"{parts.scheme}://{parts.netloc}/records/{record}/files/{urllib.parse.quote(rf.key)}"
    return rf.url


def read_metadata(meta_zip: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """The train and test tables of ``FSDKaggle2018.meta.zip`` (every cell a stripped string)."""
    meta_zip = Path(meta_zip)
    out = {}
    with zipfile.ZipFile(meta_zip) as zf:
        by_name = {PurePosixPath(n).name: n for n in zf.namelist() if not n.startswith(dl.IGNORED_MEMBERS)}
        for split, csv in META_CSVS.items():
            if csv not in by_name:
                raise DownloadError(f"{meta_zip.name} has no {csv}; it has {', '.join(sorted(by_name))}")
            with zf.open(by_name[csv]) as fh:
                df = pd.read_csv(fh, dtype=str, keep_default_na=False, skipinitialspace=True)
            df.columns = [str(c).strip() for c in df.columns]
            for col in df.columns:
                df[col] = df[col].str.strip()
            lacking = [c for c in REQUIRED_COLUMNS[split] if c not in df.columns]
            if lacking:
                raise DownloadError(f"{meta_zip.name}: {csv} lacks column(s) {', '.join(lacking)}")
            unsafe = [f for f in df["fname"] if not _is_plain_name(f)]
            if unsafe:
                raise DownloadError(f"{meta_zip.name}: {csv} lists unsafe file names: {', '.join(unsafe[:5])}")
            out[split] = df
    return out


def select_subset(train: pd.DataFrame, test: pd.DataFrame | None, per_class: int, test_per_class: int = 0, *,
                  verified_only: bool = False, seed: int = DEFAULT_SEED) -> dict[str, pd.DataFrame]:
    """The chosen rows, ``{"train": ..., "test": ...}``, in the tables' own order with all their columns.

    Train, per class: the manually verified clips shuffled, then (unless ``verified_only``) the others shuffled;
    the first ``per_class``. Test, per class, from the scored clips only (``usage`` Public/Private): shuffled, the
    first ``test_per_class``. Each shuffle is a permutation of the class's clips sorted by name, drawn from
    ``numpy.random.default_rng([seed, crc32("<split>:<label>")])``: it depends on the seed and the class alone.
    """
    verified = train["manually_verified"].astype(str).str.strip().str.lower().isin(_TRUE).to_numpy()
    labels = train["label"].to_numpy()
    keep = []
    for label in sorted(set(labels)):
        rng = _class_rng(seed, "train", label)
        groups = [verified, ~verified] if not verified_only else [verified]
        order = []
        for group in groups:
            order += _shuffled(np.flatnonzero((labels == label) & group), train["fname"], rng)
        keep += order[:per_class]
    chosen = {"train": train.iloc[sorted(keep)].reset_index(drop=True)}

    keep = []
    if test is not None and test_per_class > 0:
        scored = test["usage"].isin(SCORED_USAGES).to_numpy()
        test_labels = test["label"].to_numpy()
        for label in sorted(set(test_labels[scored])):
            rng = _class_rng(seed, "test", label)
            keep += _shuffled(np.flatnonzero((test_labels == label) & scored), test["fname"], rng)[:test_per_class]
    empty = test.iloc[:0] if test is not None else pd.DataFrame(columns=list(REQUIRED_COLUMNS["test"]))
    chosen["test"] = test.iloc[sorted(keep)].reset_index(drop=True) if keep else empty.reset_index(drop=True)
    return chosen


class PoliteSession(requests.Session):
    """The HTTP of the Range reads, handed to :class:`remotezip.RemoteZip` as its ``session``.

    Every request carries :data:`audiotag.data.download.USER_AGENT` and waits until ``request_interval_s`` has
    passed since the previous one. 429, 408 and 5xx answers and failed connections are retried, after the
    server's ``Retry-After`` or with exponential backoff (:func:`audiotag.data.download.retry_wait`), up to
    ``config.max_retries`` times in a row; then :class:`DownloadError`. A ``Range: bytes=-N`` (the zip's end) is
    rewritten as an explicit range for the URLs in ``sizes``. A 200 answer to a Range request means the server
    ignores Range: it is closed unread and reported as a :class:`DownloadError` that suggests ``no_range_hint``.
    ``requests_made`` counts the requests sent (retries included).
    """

    def __init__(self, config: DownloadConfig | None = None, request_interval_s: float = DEFAULT_REQUEST_INTERVAL_S,
                 sizes: dict[str, int] | None = None,
                 no_range_hint: str = "audiotag data download fsdkaggle2018 --dest DIR"):
        super().__init__()
        self.config = config or DownloadConfig()
        self.request_interval_s = float(request_interval_s)
        self.sizes = dict(sizes or {})
        self.no_range_hint = no_range_hint
        self.notify = None  # a function taking a message about a retry, or None for silence
        self.requests_made = 0
        self.headers["User-Agent"] = dl.USER_AGENT
        self._last_request = None

    def request(self, method, url, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {})
        wanted = headers.get("Range")
        if wanted and url in self.sizes:
            headers["Range"] = wanted = _explicit_range(wanted, self.sizes[url])
        kwargs["headers"] = headers
        kwargs.setdefault("timeout", self.config.timeout_s)
        failures = 0
        while True:
            self._pace()
            try:
                resp = super().request(method, url, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                failures = self._retry(failures, url, f"{type(exc).__name__}: {exc}", None)
                continue
            code = resp.status_code
            if code in (408, 429) or code >= 500:
                retry_after = dl.retry_after_seconds(resp.headers.get("Retry-After"))
                resp.close()
                failures = self._retry(failures, url, f"HTTP {code} {resp.reason}", retry_after)
                continue
            if wanted and code == 200:
                resp.close()
                raise DownloadError(
                    f"{url} ignores HTTP Range requests (it answered a request for part of the file with the "
                    "whole file), so single clips cannot be read out of the zip. Download the whole dataset "
                    f"instead (about 5 GB, resumable): {self.no_range_hint}")
            if code >= 400:
                resp.close()
                raise DownloadError(f"HTTP {code} {resp.reason} from {url}")
            return resp

    def _pace(self) -> None:
        if self.request_interval_s > 0 and self._last_request is not None:
            wait = self._last_request + self.request_interval_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        self._last_request = time.monotonic()
        self.requests_made += 1

    def _retry(self, failures: int, url: str, reason: str, retry_after: float | None) -> int:
        failures += 1
        if failures > self.config.max_retries:
            raise DownloadError(f"{url}: {reason}; gave up after {self.config.max_retries} retries. Clips already "
                                "fetched are kept: run the same command again to resume.")
        wait = dl.retry_wait(failures, self.config, retry_after)
        if self.notify:
            self.notify(f"{reason} from {url}; retry {failures} in {wait:.1f} s")
        time.sleep(wait)
        return failures


# --------------------------------------------------------------------------------------------------- members


@dataclass(frozen=True)
class _Member:
    """One chosen clip: where it is in its zip, what the directory says of it, where it goes."""

    split: str
    fname: str
    name: str
    size: int
    compress_size: int
    crc: int
    target: Path


class _RemoteArchive:
    """One audio zip of the record read by HTTP Range through :class:`remotezip.RemoteZip`."""

    def __init__(self, rf: RemoteFile, url: str, session: PoliteSession, config: DownloadConfig):
        self.rf, self.url, self.session, self.config = rf, url, session, config
        if rf.size:
            session.sizes[url] = rf.size
        self.zf = None
        self._io = None
        self.by_fname: dict[str, zipfile.ZipInfo] = {}

    def open(self) -> None:
        """(Re)open the zip: read its end and central directory, index the members by file name."""
        self.close()
        failures = 0
        while True:
            try:
                self.zf = RemoteZip(self.url, initial_buffer_size=min(TAIL_BYTES, self.rf.size or TAIL_BYTES),
                                    session=self.session)
                break
            except _READ_ERRORS as exc:
                failures = self._failed(failures, "reading the zip's directory", exc)
        self._io = self.zf.fp  # remotezip's reader: a zip opened on a file object leaves it open on close
        self.by_fname = {}
        for info in self.zf.infolist():
            if not info.is_dir() and not info.filename.startswith(dl.IGNORED_MEMBERS):
                self.by_fname.setdefault(PurePosixPath(info.filename).name, info)

    def plan(self, split: str, fnames: list[str], folder: Path) -> list[_Member]:
        absent = [f for f in fnames if f not in self.by_fname]
        if absent:
            raise DownloadError(f"{self.rf.key} has no member for {len(absent)} clip(s) of the metadata: "
                                f"{', '.join(absent[:10])}")
        return [_Member(split, f, i.filename, i.file_size, i.compress_size, i.CRC, folder / f)
                for f, i in ((f, self.by_fname[f]) for f in fnames)]

    def fetch(self, m: _Member, bar) -> None:
        """Stream one member to ``m.target`` (atomically), CRC-checked by :mod:`zipfile`; retried on failure."""
        failures = 0
        while True:
            written = 0
            try:
                with atomic_path(m.target, suffix=".part") as tmp:
                    with self.zf.open(self.zf.getinfo(m.name)) as src, open(tmp, "wb") as out:
                        while chunk := src.read(self.config.chunk_size):
                            out.write(chunk)
                            written += len(chunk)
                            bar.update(len(chunk))
                return
            except _READ_ERRORS as exc:
                bar.update(-written)
                failures = self._failed(failures, m.name, exc)
                self.open()  # a fresh reader: the failed one may hold a broken stream

    def _failed(self, failures: int, what: str, exc: BaseException) -> int:
        failures += 1
        reason = _describe(exc)
        if failures > self.config.max_retries:
            raise DownloadError(f"{self.rf.key}: {what}: {reason}; gave up after {self.config.max_retries} "
                                "retries. Clips already fetched are kept: run the same command again to resume.")
        wait = dl.retry_wait(failures, self.config)
        if self.session.notify:
            self.session.notify(f"{self.rf.key}: {what}: {reason}; retry {failures} in {wait:.1f} s")
        time.sleep(wait)
        return failures

    def close(self) -> None:
        if self.zf is not None:
            self.zf.close()
            self.zf = None
        if self._io is not None:
            self._io.close()
            self._io = None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, zipfile.BadZipFile) and "CRC" in str(exc):
        return "CRC-32 mismatch (the bytes received are not the bytes the zip's directory describes)"
    return f"{type(exc).__name__}: {exc}"


def _is_valid(path: Path, size: int, crc: int) -> bool:
    """True if ``path`` holds ``size`` bytes whose CRC-32 is ``crc``."""
    try:
        if path.stat().st_size != size:
            return False
        value = 0
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                value = zlib.crc32(block, value)
        return value == crc
    except OSError:
        return False


def _explicit_range(value: str, size: int) -> str:
    """``bytes=-N`` (the last N bytes) as ``bytes=<size-N>-<size-1>``; any other range unchanged."""
    match = re.fullmatch(r"\s*bytes=-(\d+)\s*", value)
    if not match:
        return value
    n = min(int(match.group(1)), size)
    return f"bytes={size - n}-{size - 1}"


# --------------------------------------------------------------------------------------------------- selection


def _class_rng(seed: int, split: str, label: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(f"{split}:{label}".encode())])


def _shuffled(rows: np.ndarray, fnames: pd.Series, rng: np.random.Generator) -> list[int]:
    """``rows`` sorted by file name, then permuted by ``rng``: an order that ignores the table's own order."""
    rows = sorted(rows.tolist(), key=lambda i: fnames.iloc[i])
    return [rows[i] for i in rng.permutation(len(rows))]


def _is_plain_name(fname: str) -> bool:
    return bool(fname) and fname not in (".", "..") and "/" not in fname and "\\" not in fname


def _counts(tables: dict[str, pd.DataFrame], chosen: dict[str, pd.DataFrame]) -> dict[str, dict[str, int]]:
    """Per class: train clips chosen / available, verified among them / available, test clips chosen / available."""
    def verified(df):
        return df["manually_verified"].astype(str).str.lower().isin(_TRUE)

    train, test = tables["train"], tables["test"]
    scored = test[test["usage"].isin(SCORED_USAGES)]
    out = {}
    for label in sorted(set(train["label"]) | set(scored["label"])):
        picked = chosen["train"][chosen["train"]["label"] == label]
        pool = train[train["label"] == label]
        out[label] = {
            "train": len(picked), "verified": int(verified(picked).sum()),
            "train_available": len(pool), "verified_available": int(verified(pool).sum()),
            "test": int((chosen["test"]["label"] == label).sum()) if len(chosen["test"]) else 0,
            "test_available": int((scored["label"] == label).sum()),
        }
    return out


def _shortfalls(tables, chosen, per_class, test_per_class, verified_only) -> list[str]:
    short = []
    for label, c in _counts(tables, chosen).items():
        if c["train"] < per_class:
            what = "verified train" if verified_only else "train"
            short.append(f"{label} ({c['train']} {what} clips)")
        if test_per_class and c["test"] < test_per_class:
            short.append(f"{label} ({c['test']} test clips)")
    return short


# --------------------------------------------------------------------------------------------------- bookkeeping


def _write_tables(dest: Path, chosen: dict[str, pd.DataFrame]) -> None:
    for split, rows in chosen.items():
        csv = dest / OUTPUT[split][1]
        if rows.empty:
            csv.unlink(missing_ok=True)
        else:
            write_text(csv, rows.to_csv(index=False))


def _subset_record(settings, api, remote, archives, tables, chosen, plan) -> dict:
    return {
        "dataset": "FSDKaggle2018, a class-stratified subset",
        **settings,
        "source": f"{api}/records/{settings['record']}",
        "selection": "per class: manually verified train clips first (unless verified_only, then only those), "
                     "each group and the scored test clips shuffled by numpy.random.default_rng([seed, "
                     "crc32('<split>:<label>')]) after sorting by fname; the first per_class / test_per_class",
        "complete": True,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": {key: {"md5": remote[key].md5, "size": remote[key].size,
                        **({"range_url": archives[split].url} if split in archives else {})}
                  for split, key in (("meta", META_ZIP), *AUDIO_ZIPS.items())},
        "totals": {"train": len(chosen["train"]), "test": len(chosen["test"]),
                   "bytes": sum(m.size for m in plan), "compressed_bytes": sum(m.compress_size for m in plan)},
        "classes": _counts(tables, chosen),
        "members": [{"split": m.split, "fname": m.fname, "zip": AUDIO_ZIPS[m.split], "member": m.name,
                     "size": m.size, "compressed_size": m.compress_size, "crc32": f"{m.crc:08x}"} for m in plan],
    }


def _read_subset_record(dest: Path) -> dict:
    path = dest / SUBSET_RECORD_NAME
    try:
        record = read_json(path) if path.is_file() else {}
    except (ValueError, OSError):
        return {}
    return record if isinstance(record, dict) else {}


def _all_valid(dest: Path, members: list[dict]) -> bool:
    """True if every member the record lists is in place with its size and CRC-32, and the CSVs are there."""
    try:
        splits = {m["split"] for m in members}
        if not members or not all((dest / OUTPUT[s][1]).is_file() for s in splits):
            return False
        return all(_is_valid(dest / OUTPUT[m["split"]][0] / m["fname"], int(m["size"]), int(m["crc32"], 16))
                   for m in members)
    except (KeyError, TypeError, ValueError):
        return False


def _prune(dest: Path, previous: dict, plan: list[_Member], chosen: dict[str, pd.DataFrame]) -> None:
    """Remove the clips an earlier subset in ``dest`` fetched and this one no longer lists."""
    keep = {m.target for m in plan}
    for m in previous.get("members", []) if isinstance(previous.get("members"), list) else []:
        try:
            path = dest / OUTPUT[m["split"]][0] / m["fname"]
        except (KeyError, TypeError):
            continue
        if path not in keep and _is_plain_name(m["fname"]):
            path.unlink(missing_ok=True)
    for split, rows in chosen.items():
        if rows.empty:
            dl._remove_if_empty(dest / OUTPUT[split][0])
