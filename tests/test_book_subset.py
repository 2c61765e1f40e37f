"""The book on real-data layout: a per-class subset downloaded from a loopback mirror of the FSDKaggle2018 record
(``audiotag data download fsdkaggle2018 --per-class N``), every chapter executed on it under the ``smoke`` profile
(what ``make book DATA=<subset>`` runs), and the results page comparing that build with the synthetic one.

The mirror's clips are the tests' tone corpus (a pitch per class, 6 training and 2 test clips each) packed into the
record's zips, so the smoke nets learn them well above their learned checks (1D about 0.76, 2D 0.29-0.44 validation
MAP@3 measured, against 0.08; the generated corpus at 5 clips per class left a 2D fold at 0.079). Without the
synthetic corpus' marker file the book treats the subset as real recordings (learned checks for real data,
runs in ``runs/PROFILE-<folder>``, results in ``build/results-<folder>.json``).
"""
import json
import re
from pathlib import Path

import pytest

from audiotag.book.build import (BookSettings, build_site, dataset_label, default_results_path, default_run_root,
                                 execute_notebooks, stage_sources)
from audiotag.book.real_data import GENERATED_PAGE, comparison_markdown, data_facts, latest_builds
from audiotag.book.results import write_results
from audiotag.data.datasets import load_dataset
from audiotag.data.subset import SUBSET_RECORD_NAME, download_fsdkaggle2018_subset
from audiotag.training.profiles import learned_map3

from conftest import make_tone_corpus
from mirror_support import FAST, dataset_archives, start, stop

INTERVAL = re.compile(r"\d\.\d{3} \(\d\.\d{3}–\d\.\d{3}\)")   # a score with its 95% interval


@pytest.fixture(scope="module")
def subset_book(tmp_path_factory):
    """A 5-train + 1-test clips per class subset from the mirror, and the smoke book built on it."""
    tmp = tmp_path_factory.mktemp("subset_book")
    corpus = make_tone_corpus(tmp / "tones", train_per_class=6, test_per_class=2)
    mirror = start(dataset_archives(corpus))
    try:
        data = download_fsdkaggle2018_subset(tmp / "fsd-mini", 5, test_per_class=1, base_url=mirror.url,
                                             request_interval_s=0, config=FAST, progress=False)
    finally:
        stop(mirror)
    root = stage_sources(tmp / "source")
    runs = tmp / "runs"
    # Half of Table 4 keeps CI quick, as in the synthetic smoke book.
    extra = {"04_inception2d": {"compared_features": ["mfcc", "multires"]}}
    seconds = {}
    execute_notebooks(BookSettings("smoke", data, runs, extra=extra), root, seconds=seconds)
    results = write_results(root / "build" / "results-fsd-mini.json", profile="smoke", dataset=dataset_label(data),
                            run_root=runs, wall_seconds=sum(seconds.values()), repo_root=root, stages=seconds,
                            data_dir=data)
    site = build_site(root)
    return {"data": Path(data), "root": root, "site": site, "runs": runs, "results": results}


def test_the_subset_is_a_real_dataset_to_the_book(subset_book):
    data = subset_book["data"]
    assert (data / SUBSET_RECORD_NAME).is_file()
    dataset = load_dataset(data)
    assert dataset.train.groupby("label").size().eq(5).all() and len(dataset.classes) == 41
    assert dataset_label(data) == "FSDKaggle2018 subset"
    assert default_run_root("cpu", data).name == "cpu-fsd-mini"
    assert default_results_path(data).name == "results-fsd-mini.json"
    for model in ("conv1d", "inception2d", "baseline"):
        assert learned_map3(model, "cpu", dataset_label(data)) < learned_map3(model, "cpu", "synthetic")
    facts = data_facts(data)
    assert (facts["train_clips"], facts["classes"], facts["scored_test_clips"]) == (205, 41, 41)
    assert facts["clips_per_class"] == {"median": 5.0, "min": 5, "max": 5}


def test_every_chapter_ran_on_the_subset(subset_book):
    chapters = subset_book["root"] / "chapters"
    for name in ("01_data", "03_conv1d", "04_inception2d", "05_ensemble", "06_inside_the_networks",
                 "07_tag_your_audio"):
        nb = json.loads((chapters / f"{name}.ipynb").read_text())
        params = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
        assert "fsd-mini" in "".join(params["source"]), name
        errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
        assert not errors, (name, errors[:1])
    text = json.dumps(json.loads((chapters / "01_data.ipynb").read_text())["cells"])
    assert "FSDKaggle2018 subset" in text and "no list of wrong labels to listen to" in text
    for run in ("1d", "2d", "baseline"):
        assert (subset_book["runs"] / run / "summary.json").is_file(), run
    scores = subset_book["results"]["test_map3"]
    assert {"classic", "conv1d", "inception2d", "rank_ensemble"} <= set(scores)
    assert all("whole_low" in scores[k] for k in ("conv1d", "inception2d", "rank_ensemble"))


def test_results_page_puts_the_real_build_beside_the_synthetic_one(subset_book):
    root = subset_book["root"]
    generated = (root / GENERATED_PAGE).read_text()
    header = next(line for line in generated.splitlines() if line.startswith("| system"))
    assert "synthetic, cpu profile" in header and "FSDKaggle2018 subset, smoke profile, 205 training clips" in header
    rows = [line for line in generated.splitlines() if line.startswith("| 2D-ConvNet")]
    assert len(rows) == 1 and len(INTERVAL.findall(rows[0])) == 2      # both columns, each with its interval
    assert "What real data changes" in generated and "No build on real recordings" not in generated
    html = (subset_book["site"] / "book" / "results.html").read_text()
    assert "What real data changes" in html and "FSDKaggle2018 subset, smoke profile" in html
    assert len(INTERVAL.findall(html)) >= 8


def test_comparison_without_a_real_build_gives_the_two_commands(tmp_path):
    repo = Path(__file__).resolve().parents[1]
    text = comparison_markdown(tmp_path, repo)           # no results files here: the measured synthetic build
    assert "No build on the synthetic corpus on this machine yet" in text
    assert "audiotag data download fsdkaggle2018 --dest data/fsd-mini --per-class 20" in text
    assert "make book DATA=data/fsd-mini" in text
    assert "issue 21" in text and "9,473 training clips" in text
    builds = latest_builds(tmp_path, repo)
    assert builds["real"] is None and builds["synthetic"]["_measured"]


def test_the_newest_build_of_each_kind_is_compared(tmp_path):
    def results(dataset, date, whole):
        return {"profile": "cpu", "dataset": dataset, "date": date, "wall_seconds": 1.0, "machine": {},
                "test_map3": {"inception2d": {"public": whole, "private": whole, "whole": whole}}}

    files = {"results.json": results("synthetic", "2026-11-01 10:00 UTC", 0.7),
             "results-old.json": results("FSDKaggle2018 subset", "2026-11-01 09:00 UTC", 0.3),
             "results-fsd-mini.json": results("FSDKaggle2018 subset", "2026-11-02 09:00 UTC", 0.4),
             "results-broken.json": "{ not json"}
    for name, body in files.items():
        (tmp_path / name).write_text(body if isinstance(body, str) else json.dumps(body))
    builds = latest_builds(tmp_path, tmp_path)
    assert builds["synthetic"]["_file"] == "results.json" and builds["real"]["_file"] == "results-fsd-mini.json"
    text = comparison_markdown(tmp_path, tmp_path)
    assert "| 2D-ConvNet | 0.700 | 0.400 |" in text


def test_runs_and_results_of_each_kind_of_data_go_to_their_own_places(tmp_path):
    """The synthetic corpus keeps ``runs/PROFILE`` and ``build/results.json``; other data gets its own folder and
    file, so a real build never resumes (or is refused by) a synthetic run."""
    synth, mine = tmp_path / "synth", tmp_path / "fsd-mini"
    synth.mkdir()
    (synth / "synth_info.json").write_text("{}")
    assert default_run_root("cpu", synth).parts[-2:] == ("runs", "cpu")
    assert default_run_root("cpu", mine).parts[-2:] == ("runs", "cpu-fsd-mini")
    assert default_results_path(synth).name == "results.json"
    assert default_results_path(mine).name == "results-fsd-mini.json"
    assert BookSettings("smoke", mine).run_root.name == "smoke-fsd-mini"
    assert BookSettings("smoke", mine, tmp_path / "elsewhere").run_root == tmp_path / "elsewhere"
