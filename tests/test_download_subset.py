"""The per-class FSDKaggle2018 download (audiotag.data.subset) against a loopback mirror of Zenodo record 2552860.

The mirror (``tests/mirror_support.py``, a threaded http.server on 127.0.0.1) serves the record's JSON at /api/records/2552860 and the three zips
the subset needs, built here in the record's member layout (``FSDKaggle2018.audio_train/<fname>.wav``, the meta
zip's CSVs with their real columns), with HTTP Range (``a-b``, ``a-``, ``-n``). Its misbehaviours, switched on per
test: 429 with ``Retry-After: 0`` to the first requests, a connection dropped in the middle of a member, a flipped
byte in a member's data, 503 to every member read after the first K, and no Range support at all.
"""
import json
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audiotag.cli import main as cli_main
from audiotag.data import subset
from audiotag.data.datasets import load_dataset
from audiotag.data.download import MARKER_NAME, WORK_DIR_NAME, DownloadConfig, DownloadError, RemoteFile, retry_after_seconds
from audiotag.data.labels import LABELS
from audiotag.data.subset import SUBSET_RECORD_NAME, download_fsdkaggle2018_subset, range_url, select_subset

from mirror_support import (FAST, LABELS4, RECORD, SMALL, TEST_HEADER, TEST_ZIP, TRAIN_HEADER, TRAIN_ZIP, Corpus,
                            start, stop)


@pytest.fixture(autouse=True)
def small_tail(monkeypatch):
    """Open the zips with a 1 KiB tail, so that members are read by their own requests even in these tiny zips
    (with the real 64 KiB, the last members of a small zip come with its end)."""
    monkeypatch.setattr(subset, "TAIL_BYTES", 1024)


@pytest.fixture
def corpus():
    return Corpus(**SMALL)


@pytest.fixture
def mirror(corpus):
    m = start(corpus.archives())
    yield m
    stop(m)


def fetch(dest, mirror, per_class=3, test_per_class=2, **kw):
    kw.setdefault("config", FAST)
    return download_fsdkaggle2018_subset(dest, per_class, test_per_class=test_per_class, base_url=mirror.url,
                                         request_interval_s=kw.pop("request_interval_s", 0), progress=False, **kw)


def audio_files(dest: Path) -> list[str]:
    return sorted(p.relative_to(dest).as_posix() for folder in ("audio_train", "audio_test")
                  for p in (dest / folder).glob("*") if p.is_file())


# --------------------------------------------------------------------------------------------------- behaviour


def test_subset_is_stratified_complete_and_loads(tmp_path, corpus, mirror):
    dest = fetch(tmp_path / "mini", mirror)
    ds = load_dataset(dest)
    assert ds.name == "fsdkaggle2018" and ds.classes == LABELS
    verified = {f for f, _, v, *_ in corpus.train_rows if v}
    by_class = ds.train.groupby("label")["fname"].apply(list).to_dict()
    assert sorted(by_class) == sorted(LABELS4) and all(len(v) == 3 for v in by_class.values())
    for label, n_verified in zip(LABELS4, SMALL["verified"]):  # verified first, then the others
        assert sum(f in verified for f in by_class[label]) == min(3, n_verified)
    assert ds.train["manually_verified"].tolist() == [f in verified for f in ds.train["fname"]]
    assert {"freesound_id", "license"} <= set(ds.train.columns)  # every column of the metadata kept
    # test: 2 scored clips per class, usage as in the metadata, never an Ignored one
    usage = {f: u for f, _, u, *_ in corpus.test_rows}
    assert ds.test.groupby("label").size().to_dict() == {label: 2 for label in LABELS4}
    assert ds.test["usage"].tolist() == [usage[f] for f in ds.test["fname"]]
    assert set(ds.test["usage"]) <= {"Public", "Private"} and len(ds.scored_test()) == 8
    for split, table in (("train", ds.train), ("test", ds.test)):  # the clips are the zip's bytes
        assert all(Path(p).read_bytes() == corpus.wavs[(split, f)] for f, p in zip(table["fname"], table["path"]))
    # the record file lists the subset
    record = json.loads((dest / SUBSET_RECORD_NAME).read_text())
    assert record["complete"] and record["record"] == RECORD and record["seed"] == 0
    assert (record["per_class"], record["test_per_class"], record["verified_only"]) == (3, 2, False)
    members = {(m["split"], m["fname"]): m for m in record["members"]}
    assert len(members) == 12 + 8 and record["totals"]["train"] == 12 and record["totals"]["test"] == 8
    for (split, f), m in members.items():
        data = corpus.wavs[(split, f)]
        assert m["size"] == len(data) and m["crc32"] == f"{zlib.crc32(data):08x}"
        assert m["member"] == f"FSDKaggle2018.audio_{split}/{f}" and m["zip"] == subset.AUDIO_ZIPS[split]
    assert record["classes"][LABELS4[2]] == {"train": 3, "verified": 1, "train_available": 5,
                                              "verified_available": 1, "test": 2, "test_available": 4}
    # one Range request per clip, each clip once; the work folder is gone
    assert sorted(mirror.member_reads()) == sorted(m["member"] for m in members.values())
    assert all(e["range"] for e in mirror.zip_requests())
    assert not (dest / WORK_DIR_NAME).exists()
    assert all(e["agent"].startswith("audiotag/") for e in mirror.log)


def test_selection_is_seeded_nested_and_verified_first(corpus):
    train = pd.DataFrame(corpus.train_rows, columns=TRAIN_HEADER).astype(str)
    test = pd.DataFrame(corpus.test_rows, columns=TEST_HEADER).astype(str)
    small = select_subset(train, test, 2, 1, seed=7)
    large = select_subset(train, test, 6, 3, seed=7)
    again = select_subset(train.iloc[::-1].reset_index(drop=True), test, 2, 1, seed=7)  # row order does not matter
    assert set(small["train"]["fname"]) <= set(large["train"]["fname"])  # 2 per class are the first 2 of 6
    assert set(small["test"]["fname"]) <= set(large["test"]["fname"])
    assert set(again["train"]["fname"]) == set(small["train"]["fname"])
    other = select_subset(train, test, 2, 1, seed=8)
    assert set(other["train"]["fname"]) != set(small["train"]["fname"])
    only = select_subset(train, test, 3, 0, verified_only=True)
    assert set(only["train"]["manually_verified"]) == {"1"}
    assert only["train"].groupby("label").size().to_dict() == {LABELS4[0]: 3, LABELS4[1]: 3, LABELS4[2]: 1}
    assert only["test"].empty
    assert large["train"].groupby("label").size().to_dict() == dict(zip(LABELS4, [6, 6, 5, 5]))  # all there is


def test_second_run_fetches_nothing_and_a_damaged_clip_is_fetched_again(tmp_path, mirror):
    dest = fetch(tmp_path, mirror)
    mirror.log.clear()
    fetch(dest, mirror)
    assert mirror.log == []  # the record and a size + CRC check of every clip: no network at all
    download_fsdkaggle2018_subset(dest, 3, test_per_class=2, base_url="http://127.0.0.1:9/api", progress=False,
                                  config=FAST, request_interval_s=0)
    # one clip deleted, one damaged in place (same size, other bytes): exactly those two are read again
    table = load_dataset(dest).train
    gone, damaged = Path(table["path"][0]), Path(table["path"][1])
    gone.unlink()
    raw = bytearray(damaged.read_bytes())
    raw[-1] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    fetch(dest, mirror)
    assert sorted(mirror.member_reads()) == sorted(f"FSDKaggle2018.audio_train/{p.name}" for p in (gone, damaged))
    load_dataset(dest)
    assert json.loads((dest / SUBSET_RECORD_NAME).read_text())["complete"]


def test_interrupted_run_resumes_where_it_stopped(tmp_path, mirror):
    mirror.members_before_outage = 5
    with pytest.raises(DownloadError, match="HTTP 503.*run the same command again to resume"):
        fetch(tmp_path, mirror, config=DownloadConfig(backoff_s=0, max_backoff_s=0, max_retries=1, timeout_s=5))
    kept = audio_files(tmp_path)
    assert len(kept) == 5 and not any(name.endswith(".part") for name in kept)  # whole clips only
    assert not (tmp_path / SUBSET_RECORD_NAME).exists() and not (tmp_path / "train_post_competition.csv").exists()
    mirror.members_before_outage = None
    mirror.log.clear()
    fetch(tmp_path, mirror)
    assert len(mirror.member_reads()) == 20 - 5  # only the missing clips
    assert len(audio_files(tmp_path)) == 20
    ds = load_dataset(tmp_path)
    assert len(ds.train) == 12 and len(ds.test) == 8


def test_429_answers_are_retried_after_retry_after(tmp_path, mirror):
    mirror.too_many = 3  # the record JSON (urllib) twice, then the metadata zip once
    fetch(tmp_path, mirror)
    assert [e["status"] for e in mirror.log[:4]] == [429, 429, 429, 200]
    mirror.log.clear()
    mirror.too_many_audio = 2  # now the Range reads of the audio zips (requests)
    fetch(tmp_path / "again", mirror)
    statuses = [e["status"] for e in mirror.zip_requests()]
    assert statuses[:2] == [429, 429] and statuses.count(429) == 2
    load_dataset(tmp_path / "again")


def test_dropped_connection_mid_member_is_retried(tmp_path, corpus, mirror):
    train_member = f"FSDKaggle2018.audio_train/{corpus.train_rows[0][0]}"  # verified: chosen
    test_member = next(f"FSDKaggle2018.audio_test/{f}" for f, _, u, *_ in corpus.test_rows if u != "Ignored")
    everything = sorted(mirror.layout[TRAIN_ZIP][o][0] for o in mirror.layout[TRAIN_ZIP])
    for name in everything:
        mirror.drop[name] = 1
    mirror.drop[test_member] = 2
    dest = fetch(tmp_path, mirror, test_per_class=4)
    reads = mirror.member_reads()
    assert reads.count(train_member) == 2 and reads.count(test_member) == 3
    ds = load_dataset(dest)
    for split, table in (("train", ds.train), ("test", ds.test)):
        assert all(Path(p).read_bytes() == corpus.wavs[(split, f)] for f, p in zip(table["fname"], table["path"]))


def test_corrupted_member_is_caught_by_its_crc(tmp_path, corpus, mirror):
    name = next(f for f, _, u, *_ in corpus.test_rows if u != "Ignored")
    member = f"FSDKaggle2018.audio_test/{name}"
    mirror.flip[member] = 1  # once: the retry gets the right bytes
    dest = fetch(tmp_path / "once", mirror, test_per_class=4)
    assert mirror.member_reads().count(member) == 2
    assert (dest / "audio_test" / name).read_bytes() == corpus.wavs[("test", name)]

    mirror.flip[member] = 99  # always: reported, nothing written
    with pytest.raises(DownloadError, match=f"{TEST_ZIP}: {member}: CRC-32 mismatch.*gave up after 3 retries"):
        fetch(tmp_path / "always", mirror, test_per_class=4)
    assert not (tmp_path / "always" / "audio_test" / name).exists()
    assert not list((tmp_path / "always").rglob("*.part"))


def test_server_ignoring_range_fails_with_a_clear_message(tmp_path, mirror):
    mirror.ignore_range = True
    with pytest.raises(DownloadError) as err:
        fetch(tmp_path, mirror)
    msg = str(err.value)
    assert "ignores HTTP Range" in msg and "Download the whole dataset" in msg
    assert f"audiotag data download fsdkaggle2018 --dest DIR --base-url {mirror.url}" in msg
    assert audio_files(tmp_path) == [] and len(mirror.zip_requests()) == 1  # stopped at the first answer


def test_requests_are_paced(tmp_path, mirror):
    fetch(tmp_path, mirror, per_class=1, test_per_class=0, request_interval_s=0.05)
    times = [e["time"] for e in mirror.zip_requests()]
    assert len(times) == 2 + 4  # the zip's end and directory, one clip per class
    assert min(np.diff(times)) >= 0.045


def test_range_url_is_zenodo_files_address_or_the_mirror_link():
    rf = RemoteFile(key="FSDKaggle2018.audio_train.zip", size=1, md5="0" * 32,
                    url="https://mirror.example/api/records/2552860/files/FSDKaggle2018.audio_train.zip/content")
    assert range_url(rf, "https://zenodo.org/api", RECORD) == \
        "https://zenodo.org/records/2552860/files/FSDKaggle2018.audio_train.zip"
    assert range_url(rf, "https://sandbox.zenodo.org/api/", RECORD).startswith("https://sandbox.zenodo.org/records/")
    assert range_url(rf, "https://mirror.example/api", RECORD) == rf.url


def test_retry_after_header_values():
    assert retry_after_seconds("0") == 0 and retry_after_seconds("12") == 12
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # a date in the past: no wait


def test_cli_subset_download(tmp_path, mirror, capsys):
    dest = tmp_path / "cli"
    assert cli_main(["data", "download", "fsdkaggle2018", "--dest", str(dest), "--base-url", mirror.url,
                     "--per-class", "2", "--test-per-class", "1", "--verified-only", "--request-interval", "0",
                     "--quiet"]) == 0
    ds = load_dataset(dest)
    assert ds.train["manually_verified"].all() and len(ds.train) == 2 + 2 + 1 and len(ds.test) == 4
    assert cli_main(["data", "download", "fsdkaggle2018", "--dest", str(dest), "--verified-only"]) == 2
    assert "only apply with --per-class" in capsys.readouterr().err
    assert cli_main(["data", "download", "fsdkaggle2018", "--dest", str(dest), "--per-class", "0"]) == 2


# --------------------------------------------------------------------------------------------------- cost


@pytest.mark.slow
def test_cost_of_20_clips_per_class(tmp_path, monkeypatch):
    """Requests and bytes for ``--per-class 20`` (test: the default 10) on a zip laid out like the real one:
    9,473 train entries (3,710 verified) and 1,600 scored test clips over 41 classes, real-length names, the real
    64 KiB tail. The clips are tiny here; the printout scales the measured overhead to the real clips' mean size."""
    monkeypatch.setattr(subset, "TAIL_BYTES", 64 * 1024)
    rng = np.random.default_rng(0)
    train_n = rng.multinomial(9473 - 41 * 94, np.ones(41) / 41) + 94  # 94 to ~300 clips per class
    verified = np.minimum(train_n, rng.multinomial(3710, np.ones(41) / 41))
    corpus = Corpus(LABELS, verified.tolist(), (train_n - verified).tolist(), scored=39, samples=20)
    corpus.test_rows = [r for r in corpus.test_rows if r[2] != "Ignored"][:1600]
    mirror = start(corpus.archives())
    try:
        t0 = time.perf_counter()
        fetch(tmp_path, mirror, per_class=20, test_per_class=None)
        seconds = time.perf_counter() - t0
    finally:
        stop(mirror)
    record = json.loads((tmp_path / SUBSET_RECORD_NAME).read_text())
    clips = record["totals"]["train"] + record["totals"]["test"]
    assert (record["totals"]["train"], record["totals"]["test"]) == (41 * 20, 41 * 10)
    sent = {}  # body bytes sent, per file
    for e in mirror.log:
        what = e["path"].split("/files/")[1].split("/")[0] if "/files/" in e["path"] else "record"
        sent[what] = sent.get(what, 0) + e["sent"]
    member_data = record["totals"]["compressed_bytes"]
    overhead = sum(sent.values()) - member_data  # directories, tails, metadata, local headers
    mean_clip = subset.MEAN_CLIP_SECONDS * 44100 * 2 + 44  # FSDKaggle2018's mean train clip, as WAV
    print(f"\n--per-class 20 (test 10): {len(mirror.log)} requests ({len(mirror.member_reads())} clips), "
          f"{sum(sent.values()) / 1e6:.2f} MB sent of which {overhead / 1e6:.2f} MB not clip data "
          f"({', '.join(f'{k}: {v / 1e3:.0f} kB' for k, v in sent.items())}); {seconds:.1f} s on loopback without "
          f"pacing. Real clips at ~{mean_clip / 1e6:.2f} MB: ~{(clips * mean_clip + overhead) / 1e9:.2f} GB, "
          f"{len(mirror.log) / 60:.0f} min at 1 request/s")
    assert len(mirror.log) == 1 + 1 + 2 * 2 + clips


def test_a_full_download_folder_is_not_mixed_with_a_subset(tmp_path, mirror):
    (tmp_path / MARKER_NAME).write_text("{}")
    with pytest.raises(DownloadError, match="holds the full FSDKaggle2018 download"):
        fetch(tmp_path, mirror)
    assert mirror.log == []
