"""What a book build records: build/results.json, the README table made from it, the tidied parameters cell, the
build monitor's view of a running notebook, and the trainer's status line."""
from __future__ import annotations

import json

import nbformat
import pandas as pd
import pytest

from audiotag.book.build import BuildMonitor, tidy_parameters
from audiotag.book.results import (PROFILES_END, PROFILES_START, README_END, README_START, ResultsError,
                                   load_results, report_markdown, save_test_scores, update_readme, write_results)
from audiotag.cli import main as cli_main
from audiotag.training import status


def _scores():
    rows = {"classic": 0.5, "base": 0.6, "1d": 0.7, "2d": 0.8, "rank": 0.85}
    return pd.DataFrame({f"map3_{p}": [v + d for v in rows.values()]
                         for p, d in (("public", 0.01), ("private", -0.01), ("whole", 0.0))}, index=list(rows))


def _results(tmp_path):
    save_test_scores(tmp_path / "runs", _scores(), {"classic": "classic", "baseline": "base", "conv1d": "1d",
                                                    "inception2d": "2d", "rank_ensemble": "rank"})
    return write_results(tmp_path / "build" / "results.json", profile="cpu", dataset="synthetic",
                         run_root=tmp_path / "runs", wall_seconds=754.2, repo_root=tmp_path,
                         stages={"corpus": 21.0, "03_conv1d": 300.4, "site": 12.0})


def test_results_json_has_everything_the_readme_needs(tmp_path):
    results = _results(tmp_path)
    on_disk = json.loads((tmp_path / "build" / "results.json").read_text())
    assert on_disk == results
    assert set(results) >= {"profile", "dataset", "wall_seconds", "machine", "commit", "test_map3", "date"}
    assert set(results["machine"]) >= {"cpu", "cores", "torch", "device", "precision"}
    assert results["test_map3"]["inception2d"] == {"public": 0.81, "private": 0.79, "whole": 0.8}
    text = report_markdown(results)
    assert results["stage_seconds"]["03_conv1d"] == 300.4
    assert "corpus 21 s, 03_conv1d 300 s, site 12 s" in text
    assert "12.6 minutes" in text and "| 2D-ConvNet (log-mel, mean of its folds) | 0.810 | 0.790 | 0.800 |" in text
    assert text.index("classic") < text.index("DCASE") < text.index("1D-ConvNet") < text.index("rank-averaged")


def _intervals(scores):
    """A score_intervals-shaped table for :func:`_scores`: whole +- 0.04 over 327 clips."""
    table = pd.DataFrame({"MAP@3": scores["map3_whole"], "low": scores["map3_whole"] - 0.04,
                          "high": scores["map3_whole"] + 0.04, "clips": 327})
    table.index.name = "system"
    table.attrs.update(level=0.95, subset="whole")
    return table


def _differences():
    """A difference_table-shaped table: two pairs of reported rows and one with an unreported system."""
    return pd.DataFrame({"difference": [0.1, 0.05, 0.004], "low": [0.06, 0.02, -0.01], "high": [0.14, 0.08, 0.018],
                         "real here?": ["yes: the interval excludes 0", "yes: the interval excludes 0",
                                        "no: within the test set's noise"]},
                        index=["2d − 1d", "rank − 2d", "rank − mean"])


def test_scores_with_intervals_and_differences_reach_the_report(tmp_path):
    scores = _scores()
    rows = {"classic": "classic", "baseline": "base", "conv1d": "1d", "inception2d": "2d", "rank_ensemble": "rank"}
    saved = json.loads(save_test_scores(tmp_path / "runs", scores, rows, _intervals(scores),
                                        differences=_differences()).read_text())
    assert saved["inception2d"] == pytest.approx({"public": 0.81, "private": 0.79, "whole": 0.8, "whole_low": 0.76,
                                                  "whole_high": 0.84, "whole_clips": 327})
    assert list(saved["differences"]) == ["2D - 1D", "rank ensemble - 2D", "rank ensemble - mean"]
    assert saved["differences"]["2D - 1D"] == pytest.approx({"diff": 0.1, "low": 0.06, "high": 0.14})
    results = write_results(tmp_path / "build" / "results.json", profile="cpu", dataset="synthetic",
                            run_root=tmp_path / "runs", wall_seconds=754.2, repo_root=tmp_path)
    assert "differences" not in results["test_map3"] and set(results["test_map3"]) == set(rows)
    assert results["test_differences"] == saved["differences"]
    text = report_markdown(results)
    assert "| system (test MAP@3) | public | private | whole (95% interval) |" in text
    assert "| 2D-ConvNet (log-mel, mean of its folds) | 0.810 | 0.790 | 0.800 (0.760–0.840) |" in text
    assert "95% percentile-bootstrap interval" in text and "the 327 scored test clips" in text
    assert "Above the classic floor (whole test MAP@3): baseline +0.100, 1D +0.200" in text   # gaps kept
    assert "| 2D - 1D | +0.100 | +0.060 to +0.140 | yes: the interval excludes 0 |" in text
    assert "| rank ensemble - mean | +0.004 | -0.010 to +0.018 | no: within the test set's noise |" in text
    assert text.index("whole (95% interval)") < text.index("Above the classic floor") < text.index("| 2D - 1D |")


def test_intervals_of_another_subset_or_level_or_missing_rows_are_refused(tmp_path):
    scores = _scores()
    rows = {"conv1d": "1d", "inception2d": "2d"}
    public = _intervals(scores)
    public.attrs["subset"] = "public"
    with pytest.raises(ValueError, match="'public' test clips"):
        save_test_scores(tmp_path, scores, rows, public)
    ninety = _intervals(scores)
    ninety.attrs["level"] = 0.9
    with pytest.raises(ValueError, match="90% intervals"):
        save_test_scores(tmp_path, scores, rows, ninety)
    with pytest.raises(ValueError, match=r"no interval for row\(s\) \['2d'\]"):
        save_test_scores(tmp_path, scores, rows, _intervals(scores).drop(index="2d"))


def test_old_results_files_without_intervals_are_still_reported(tmp_path, capsys):
    from pathlib import Path

    measured = Path(__file__).resolve().parents[1] / "book" / "measured"
    builds = [measured / "make_book_bf16.json", measured / "make_book_fp32.json"]
    assert cli_main(["report", *map(str, builds)]) == 0               # the stored builds, whatever they hold
    capsys.readouterr()
    old = json.loads(builds[0].read_text())                           # as saved before intervals existed
    old["test_map3"] = {k: {p: v[p] for p in ("public", "private", "whole")} for k, v in old["test_map3"].items()}
    old.pop("test_differences", None)
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert cli_main(["report", str(tmp_path / "old.json")]) == 0
    out = capsys.readouterr().out
    assert "| system (test MAP@3) | public | private | whole |" in out
    assert "interval" not in out and "real here" not in out
    whole = old["test_map3"]["inception2d"]
    assert f"| 2D-ConvNet (log-mel, mean of its folds) | {whole['public']:.3f} | {whole['private']:.3f} | " \
           f"{whole['whole']:.3f} |" in out


def test_unknown_system_key_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown system key"):
        save_test_scores(tmp_path, _scores(), {"resnet": "2d"})


def test_report_command_rewrites_only_the_readme_section(tmp_path, capsys):
    _results(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{README_START}\nold table\n{README_END}\nafter\n")
    assert cli_main(["report", str(tmp_path / "build" / "results.json"), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old table" not in text and text.startswith("# x\n\nbefore\n") and text.endswith(f"{README_END}\nafter\n")
    assert "| classic MFCC statistics + logistic regression | 0.510 | 0.490 | 0.500 |" in text
    assert "0.850" in capsys.readouterr().out

    # With profile markers, the profiles table is regenerated from audiotag.training.profiles too.
    readme.write_text(f"{README_START}\n{README_END}\n{PROFILES_START}\nold profiles\n{PROFILES_END}\n")
    assert cli_main(["report", str(tmp_path / "build" / "results.json"), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old profiles" not in text and "| cpu       | inception2d |" in text and text.endswith(f"{PROFILES_END}\n")


def test_report_of_several_builds_reports_each_with_its_gaps_above_the_floor(tmp_path, capsys):
    results = _results(tmp_path)
    fp32 = dict(results, machine=dict(results["machine"], precision="fp32", native_bf16=True, device="cpu"),
                wall_seconds=1500.0)
    (tmp_path / "fp32.json").write_text(json.dumps(fp32))
    readme = tmp_path / "README.md"
    readme.write_text(f"{README_START}\n{README_END}\n")
    assert cli_main(["report", str(tmp_path / "build" / "results.json"), str(tmp_path / "fp32.json"),
                     "--readme", str(readme), "--out", str(tmp_path / "builds.md")]) == 0
    text = readme.read_text()
    assert (tmp_path / "builds.md").read_text() in text
    assert text.index("12.6 minutes") < text.index("25.0 minutes") and text.count("| 2D-ConvNet") == 2
    assert "precision fp32, set by AUDIOTAG_PRECISION=fp32: as on a CPU without native bf16" in text
    assert ("Above the classic floor (whole test MAP@3): baseline +0.100, 1D +0.200, 2D +0.300, rank ensemble "
            "+0.350; the rank ensemble above the best single network: +0.050.") in text


def test_report_errors_name_the_file(tmp_path, capsys):
    assert cli_main(["report", str(tmp_path / "none.json")]) == 1
    assert "none.json: no results yet" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(ResultsError, match="bad.json: not valid JSON"):
        load_results(bad)
    bad.write_text("{}")
    with pytest.raises(ResultsError, match="missing profile"):
        load_results(bad)
    results = _results(tmp_path)
    (tmp_path / "R.md").write_text("no markers")
    with pytest.raises(ResultsError, match="R.md: no results markers"):
        update_readme(tmp_path / "R.md", results)


def test_tidy_parameters_hides_machine_paths(tmp_path):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(f'profile = "cpu"\ndata_dir = "{tmp_path}/repo/data/synth"\n'
                                     'run_dir = "/home/someone/elsewhere/runs/cpu"\n')
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells = [nbformat.v4.new_code_cell("x = 1"), cell]
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    tidy_parameters(path, root=tmp_path / "repo")
    got = nbformat.read(str(path), as_version=4).cells[1]
    assert 'data_dir = "data/synth"' in got.source and 'run_dir = ".../runs/cpu"' in got.source
    assert str(tmp_path) not in got.source and "/home/someone" not in got.source
    # without a parameters cell to merge into, papermill's cell stays the one the reader sees, shown as it is
    assert got.metadata["tags"] == ["injected-parameters"]


def test_monitor_finds_the_running_cell_and_status_line(tmp_path, monkeypatch):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("a = 1"),
                nbformat.v4.new_code_cell("run = train(config)\nmore")]
    nb.cells[1].metadata["papermill"] = {"status": "completed"}
    nb.cells[2].metadata["papermill"] = {"status": "running"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    assert BuildMonitor.running_cell(path) == (2, 2, "run = train(config)")
    assert BuildMonitor.running_cell(tmp_path / "missing.ipynb") is None
    line = tmp_path / "status.txt"
    monkeypatch.setenv(status.ENV, str(line))
    status.report("2d fold 1/3: epoch 4/20", force=True)
    assert status.read(line) == "2d fold 1/3: epoch 4/20"
    status.report("too soon")                                  # throttled
    assert status.read(line) == "2d fold 1/3: epoch 4/20"


def test_the_page_facts_reach_results_and_the_readme(tmp_path, monkeypatch):
    """A build that exported the networks for the page records the download; the README's page paragraph gives it,
    with the measured browser timing when there is one."""
    from audiotag.book import results as R
    from audiotag.book import tagger_page
    from audiotag.book.build import TAGGER_DIR

    manifest = tmp_path / TAGGER_DIR / "tagger.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"bytes": {"models": 118_500_000}, "networks": [
        {"title": "2D-ConvNet", "weights": "float32", "folds": [{}, {}, {}]},
        {"title": "1D-ConvNet", "weights": "float32", "folds": [{}, {}, {}]}]}))
    monkeypatch.setattr("audiotag.book.build.runtime_bytes", lambda: 14_300_000)
    results = _results(tmp_path)
    assert results["page"] == {"model_bytes": 118_500_000, "runtime_bytes": 14_300_000, "weights": ["float32"],
                               "folds": {"2D-ConvNet": 3, "1D-ConvNet": 3}}
    text = R.page_markdown(results, None)
    assert "132.8 MB" in text and "3 folds of the 2D-ConvNet and 3 folds of the 1D-ConvNet" in text
    timing = {"clip_seconds": 10, "browser_seconds": 1.5, "browser_load_seconds": 3.2, "predict_seconds": 0.9,
              "predict_cli_seconds": 6.0, "predict_what": "float32", "machine": "AMD EPYC, 2 cores",
              "date": "2026-11-30", "chromium": "Chromium 140", "profile": "cpu",
              "largest_difference_page_vs_predict": 3e-7}
    assert "1.50 s in Chromium" in R.page_markdown(results, timing) and "0.90 s with `predict`" in \
        R.page_markdown(results, timing)
    monkeypatch.setattr(tagger_page, "MEASURED", tmp_path / "none.json")
    monkeypatch.setattr(tagger_page.measured_timing, "__defaults__", (tmp_path / "none.json",))
    readme = tmp_path / "README.md"
    readme.write_text(f"{README_START}\n{README_END}\n{R.PAGE_START}\nOLD PARAGRAPH\n{R.PAGE_END}\n")
    update_readme(readme, results)
    assert "OLD PARAGRAPH" not in readme.read_text() and "132.8 MB" in readme.read_text()
    assert "no export" in R.page_markdown({}, None).lower()
