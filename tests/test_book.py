"""Building the book is a test: every notebook executes under the ``smoke`` profile on a tiny synthetic corpus, the
site builds with ``-W`` (no Sphinx warning), and every page opens in headless Chromium with its title, all its
images loaded, no console error and no request leaving the machine. Screenshots go to ``artifacts/screenshots/``.

Chromium (Debian's, never a downloaded one) is driven by Playwright through ``tests/browser_support.py``.
``make test`` installs Debian's ``chromium`` when it is missing; without it the browser test is skipped.
"""
from __future__ import annotations

import json
import re

import nbformat
import pytest
from browser_support import browser, open_recorded_page, served_site  # noqa: F401  (fixtures)

from audiotag.book.build import (EXECUTED, NOTEBOOK_DIR, NOTEBOOKS, REPO_ROOT, BookError, BookSettings, build_site,
                                 dataset_label, execute_notebooks, merge_parameters, stage_sources,
                                 strip_widget_state, tidy_parameters)

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
#: Every page of the table of contents and the heading it must show.
PAGES = {
    "book/intro.html": "Audio tagging with deeper CNNs",
    "book/paper.html": "The paper in our own words",
    f"{EXECUTED.as_posix()}/01_data.html": "The data",
    f"{EXECUTED.as_posix()}/02_features.html": "Features and augmentation",
    f"{EXECUTED.as_posix()}/03_conv1d.html": "The 1D-ConvNet on raw waveforms",
    f"{EXECUTED.as_posix()}/04_inception2d.html": "The 2D-ConvNet on spectral images",
    f"{EXECUTED.as_posix()}/05_ensemble.html": "Ensembles and evaluation",
    f"{EXECUTED.as_posix()}/06_inside_the_networks.html": "Inside the networks",
    f"{EXECUTED.as_posix()}/07_tag_your_audio.html": "Tag your own audio",
    "book/reproduce.html": "Reproducing",
    "book/cpu_profile.html": "The cpu profile: what it changes, and why",
    "book/results.html": "Reading the results",
    "book/references.html": "References",
}
# ------------------------------------------------------------------------------------------------------ fast
def test_source_notebooks_are_stored_clean_with_parameters():
    for name in NOTEBOOKS:
        nb = nbformat.read(str(NOTEBOOK_DIR / f"{name}.ipynb"), as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{name}: outputs stored"
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
        params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and "profile = " in params[0].source and "data_dir = " in params[0].source


def _markdown(name: str) -> str:
    nb = nbformat.read(str(NOTEBOOK_DIR / f"{name}.ipynb"), as_version=4)
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


#: Chapters that show several sounds (every chapter shows at least one, with its player).
CHAPTERS_WITH_SOUNDS = ("01_data", "02_features", "05_ensemble", "06_inside_the_networks", "07_tag_your_audio")


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_chapter_has_the_shape_of_a_lesson(name):
    """What you will learn, background maths, at least one note or tip box, a summary, and 3-5 exercises each with a
    revealable solution (sphinx-exercise)."""
    nb = nbformat.read(str(NOTEBOOK_DIR / f"{name}.ipynb"), as_version=4)
    text = _markdown(name)
    assert re.search(r"^:::+\{admonition\} What you will learn\s*$", nb.cells[0].source, re.M), \
        f"{name}: the first cell has no 'What you will learn' box"
    assert re.search(r"^\$\$", text, re.M), f"{name}: no displayed formula ($$ ... $$)"
    assert re.search(r"^:::+\{(note|tip)\}", text, re.M), f"{name}: no note or tip box"
    assert re.search(r"^## Summary\s*$", text, re.M), f"{name}: no summary"
    assert re.search(r"^## Exercises\s*$", text, re.M), f"{name}: no exercises"
    exercises = re.findall(r"^:::+\{exercise\}[^\n]*\n:label: (\S+)", text, re.M)
    solutions = re.findall(r"^:::+\{solution(?:-start)?\} (\S+)", text, re.M)
    assert 3 <= len(exercises) <= 5, f"{name}: {len(exercises)} exercises"
    assert sorted(exercises) == sorted(solutions), f"{name}: exercises {exercises} vs solutions {solutions}"
    starts, ends = text.count("{solution-start}"), text.count("{solution-end}")
    assert starts == ends, f"{name}: {starts} solution-start but {ends} solution-end"


def test_exercise_labels_are_unique_across_the_book():
    labels = [label for name in NOTEBOOKS
              for label in re.findall(r"^:::+\{exercise\}[^\n]*\n:label: (\S+)", _markdown(name), re.M)]
    assert len(labels) == len(set(labels)), sorted(lab for lab in labels if labels.count(lab) > 1)


def test_one_parameters_cell_with_the_values_the_chapter_ran_with(tmp_path):
    params = ('profile = "cpu"                 # paper | cpu | smoke\n'
              'data_dir = "../data/synth"      # the corpus\n'
              'seed = 0\n')
    injected = '# Parameters\nprofile = "smoke"\ndata_dir = "%s/data/synth"\nextra = [1, 2]\n' % REPO_ROOT
    merged = merge_parameters(params, injected)
    assert merged.splitlines() == ['profile = "smoke"               # paper | cpu | smoke',
                                   f'data_dir = "{REPO_ROOT}/data/synth"  # the corpus', "seed = 0",
                                   "extra = [1, 2]"]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# T"),
                nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(injected, metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, str(tmp_path / "x.ipynb"))
    tidy_parameters(tmp_path / "x.ipynb", REPO_ROOT)
    cells = nbformat.read(str(tmp_path / "x.ipynb"), as_version=4).cells
    assert [c.metadata.get("tags", []) for c in cells] == [[], ["parameters"], []]
    assert 'data_dir = "data/synth"' in cells[1].source and str(REPO_ROOT) not in cells[1].source


def test_settings_give_absolute_paths_and_extras(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "synth_info.json").write_text("{}")     # the synthetic corpus: runs/PROFILE
    p = BookSettings("smoke", "data", None, 3, extra={"03_conv1d": {"comparison_epochs": 1}}).parameters("03_conv1d")
    assert p == {"profile": "smoke", "data_dir": str(tmp_path / "data"), "run_dir": str(tmp_path / "runs" / "smoke"),
                 "seed": 3, "comparison_epochs": 1}
    other = BookSettings("smoke", "fsd-mini").parameters("03_conv1d")      # other data: runs/PROFILE-<folder>
    assert other["run_dir"] == str(tmp_path / "runs" / "smoke-fsd-mini")
    assert "comparison_epochs" not in BookSettings().parameters("01_data")


def test_dataset_label(tmp_path):
    (tmp_path / "synth").mkdir()
    (tmp_path / "synth" / "synth_info.json").write_text("{}")
    (tmp_path / "fsd" / "audio_train").mkdir(parents=True)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mini" / "audio_train").mkdir(parents=True)
    (tmp_path / "mini" / "fsdkaggle2018_subset.json").write_text("{}")
    assert [dataset_label(tmp_path / n) for n in ("synth", "fsd", "mine", "mini")] == [
        "synthetic", "FSDKaggle2018", "mine", "FSDKaggle2018 subset"]


def test_strip_widget_state_and_missing_notebooks(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, str(tmp_path / "x.ipynb"))
    strip_widget_state(tmp_path / "x.ipynb")
    assert "widgets" not in nbformat.read(str(tmp_path / "x.ipynb"), as_version=4).metadata
    with pytest.raises(BookError, match="not executed yet"):
        build_site(tmp_path)
    with pytest.raises(BookError, match="unknown notebook"):
        execute_notebooks(BookSettings(), tmp_path, ["99_nope"])


# ------------------------------------------------------------------------------------------------- the smoke book
@pytest.fixture(scope="module")
def book(smoke_book):
    """The smoke book (``conftest.smoke_book``, built once per session): ``(root, site)``."""
    return smoke_book.root, smoke_book.site


@pytest.mark.slow
def test_every_notebook_executed_without_error(book):
    root, _ = book
    for name in NOTEBOOKS:
        nb = nbformat.read(str(root / EXECUTED / f"{name}.ipynb"), as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
        assert "widgets" not in nb.metadata, f"{name}: widget state left in the executed notebook"
        assert nb.cells[1].metadata.get("tags") == ["parameters"]
        assert not [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])], \
            f"{name}: papermill's injected cell left beside the parameters cell"


def _outputs_html(root, name) -> str:
    nb = nbformat.read(str(root / EXECUTED / f"{name}.ipynb"), as_version=4)
    return "\n".join(str(o.get("data", {}).get("text/html", "")) + str(o.get("data", {}).get("text/plain", ""))
                     + str(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


@pytest.mark.slow
def test_chapters_let_the_reader_hear_and_read_their_tables(book):
    """Players beside the sounds (at the clips' own rate, so not all at 16 kHz), and no table showing NaN."""
    root, _ = book
    for name in NOTEBOOKS:
        shown = _outputs_html(root, name)
        players = shown.count("<audio")
        assert players >= (2 if name in CHAPTERS_WITH_SOUNDS else 1), f"{name}: {players} audio player(s)"
        tables = re.findall(r"<table.*?</table>", shown, re.S)
        nan = [t[:300] for t in tables if re.search(r">\s*NaN\s*<", t)]
        assert not nan, f"{name}: a table shows NaN: {nan[0]}"
        assert not re.search(r"<th>[a-z]+_[a-z_]+</th>", shown), f"{name}: a snake_case table header"


@pytest.mark.slow
def test_training_notebooks_show_paper_and_our_tables(book):
    root, _ = book

    def text_of(name):
        nb = nbformat.read(str(root / EXECUTED / f"{name}.ipynb"), as_version=4)
        return "\n".join(str(o.get("data", {}).get("text/html", "")) + str(o.get("text", ""))
                         for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))

    conv1d, inception, ensemble = text_of("03_conv1d"), text_of("04_inception2d"), text_of("05_ensemble")
    assert "2,099,801" in conv1d and "paper (FSDKaggle2018; each row: 5-fold CV, early stop 10)" in conv1d
    assert "ours (synthetic; each row: fold 0 of 2-fold CV, 1 epoch, one-cycle lr)" in conv1d      # what the smoke rows ran
    assert "ours (synthetic; each row: fold 0 of 2-fold CV, 1 epoch, one-cycle lr)" in inception
    assert "7,664,969" in inception and "multi-resolution log-mel spectrogram" in inception
    assert "paper FSDKaggle2018 (whole)" in ensemble and "DCASE baseline" in ensemble
    assert "classic MFCC + logistic regression" in ensemble


#: Tags that make a browser fetch something as the page loads (links to follow are fine).
REMOTE_ASSET = re.compile(r"<(?:script|img|link|iframe|audio|source)\b[^>]*\b(?:src|href)=[\"'](?:https?:)?//", re.I)


@pytest.mark.slow
def test_site_has_every_page_and_no_remote_assets_or_local_paths(book):
    root, site = book
    machine_folder = str(root.parent)       # holds the corpus, the runs and the sources of the smoke book
    assert not [p for p in PAGES if "build/" in p], "a chapter's address names the build folder"
    for page in PAGES:
        html = (site / page).read_text()
        alts = re.findall(r"<img\b[^>]*\balt=\"([^\"]*)\"", html)
        bad = [a for a in alts if not a.strip() or re.search(r"\.(png|jpe?g|svg)$|/", a)]
        assert not bad, f"{page}: figures without a description (alt): {bad[:3]}"
        if page.startswith(EXECUTED.as_posix()):
            assert "vendor/mathjax/tex-chtml.js" in html, f"{page}: MathJax is not the site's own copy"
        # Only chapter 7's panel loads the tagger's script (the other pages keep their weight).
        assert ("tagger/tagger.js" in html) == page.endswith("07_tag_your_audio.html"), page
        remote = REMOTE_ASSET.findall(html)
        assert not remote, f"{page} loads remote assets: {remote[:3]}"
        assert machine_folder not in html, f"{page} shows a local path: ...{html[html.index(machine_folder) - 80:][:200]}"


# ------------------------------------------------------------------------------------------------------ browser
@pytest.fixture(scope="module")
def site_dir(book):
    """The built site, served on loopback by ``browser_support.served_site``."""
    return book[1]


#: Waits for every image (lazy ones made eager) and returns its source and natural width.
IMAGES_JS = """
() => Promise.all(Array.from(document.images).map(img => {
  img.loading = 'eager';
  return img.complete ? null : new Promise(done => { img.onload = img.onerror = done; setTimeout(done, 10000); });
})).then(() => Array.from(document.images).map(i => [i.currentSrc || i.src, i.naturalWidth]))
"""


#: The in-page explorers of a chapter: ready, and each redraws when a control moves (a select: the next option).
EXPLORERS_RESPOND_JS = """
async () => {
  const roots = Array.from(document.querySelectorAll('.audiotag-explorer'));
  const out = [];
  for (const root of roots) {
    const draws = () => Number(root.dataset.draws || 0);
    const start = Date.now();
    while (root.dataset.state !== 'ready' && Date.now() - start < 20000) await new Promise(r => setTimeout(r, 50));
    const select = root.querySelector('select[data-control]');
    const before = draws();
    select.selectedIndex = (select.selectedIndex + 1) % select.options.length;
    select.dispatchEvent(new Event('change', {bubbles: true}));
    const t0 = Date.now();
    while (draws() === before && Date.now() - t0 < 20000) await new Promise(r => setTimeout(r, 50));
    out.push([root.dataset.kind, root.dataset.state, select.dataset.control, draws() > before]);
  }
  return out;
}
"""
#: Bytes of the page and of everything it loaded (from the Resource Timing API).
PAGE_WEIGHT_JS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const res = performance.getEntriesByType('resource');
  return (nav ? nav.decodedBodySize : 0) + res.reduce((n, r) => n + (r.decodedBodySize || 0), 0);
}"""


@pytest.mark.slow
def test_every_page_renders_in_chromium(browser, served_site):
    """Every page in headless Chromium (Playwright): its heading and title, all images loaded, no console error,
    no failed load, no request leaving the local server. Screenshots go to ``artifacts/screenshots/``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    failures, weights = {}, {}
    with open_recorded_page(browser, served_site) as recorded:
        page = recorded.page
        for path, heading in PAGES.items():
            log = recorded.log
            log.console_errors.clear(), log.page_errors.clear(), log.failed_requests.clear(), log.requests.clear()
            recorded.goto(path, wait_until="load")
            images = page.evaluate(IMAGES_JS)
            title = page.title()
            h1 = page.evaluate("() => (document.querySelector('main h1') || document.querySelector('h1') "
                               "|| {textContent: ''}).textContent")
            page.wait_for_timeout(300)      # late console messages
            page.screenshot(path=str(SCREENSHOTS / path.replace("/", "_").replace(".html", ".png")),
                            clip={"x": 0, "y": 0, "width": 1280,
                                  "height": min(4000, page.evaluate("document.documentElement.scrollHeight"))},
                            full_page=True)
            weights[path] = page.evaluate(PAGE_WEIGHT_JS)
            if path.endswith("02_features.html"):
                explorers = page.evaluate(EXPLORERS_RESPOND_JS)
                if sorted(e[0] for e in explorers) != ["augment", "feature"]:
                    problems_extra = [f"in-page explorers: {explorers}"]
                else:
                    problems_extra = [f"explorer {k} ({state}) did not redraw after {c} changed"
                                      for k, state, c, redrew in explorers if not redrew]
            else:
                problems_extra = []
            problems = log.problems() + problems_extra
            h1 = h1.replace("#", "").strip()
            if not h1.endswith(heading):     # numbered chapters read "1. The data"
                problems.append(f"heading {h1!r}, expected {heading!r}")
            if heading not in title:
                problems.append(f"title {title!r} does not name the page")
            problems += [f"image not loaded: {src}" for src, width in images if width == 0]
            if path.startswith(EXECUTED.as_posix()) and not images:
                problems.append("no figures on a notebook page")
            if problems:
                failures[path] = problems
    (SCREENSHOTS.parent / "page_weights.json").write_text(json.dumps(weights, indent=2))
    print("page weight (page + what it loaded), bytes:\n" + "\n".join(f"  {k}: {v:,}" for k, v in weights.items()))
    assert not failures, json.dumps(failures, indent=2)
