# The two commands of the README:
#   make book   - set up, generate the embedded dataset, execute the notebooks (cpu profile), build the HTML site
#   make test   - set up, run the test suite
#   make lab    - open the notebooks live in JupyterLab
# Real sounds on a laptop (about 0.7 GB):  audiotag data download fsdkaggle2018 --dest data/fsd-mini --per-class 20
#                                          make book DATA=data/fsd-mini   (runs/cpu-fsd-mini, build/results-fsd-mini.json)
# Reproduce the paper on FSDKaggle2018 with a GPU:  make book PROFILE=paper DATA=/path/to/FSDKaggle2018
#   ... on 8 GPUs, one fold per GPU at a time:    make book PROFILE=paper DATA=... JOBS=8
#   ... on a SLURM cluster (a job array per run): make book PROFILE=paper DATA=... JOBS=slurm
#       (options from AUDIOTAG_SLURM_PARTITION, _TIME (minutes), _GPUS, _CPUS, _LOG_DIR)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PROFILE ?= cpu
DATA    ?= data/synth
RUNS    ?=
JOBS    ?= 1
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || command -v sudo)

NODE_STAMP := node_modules/.installed

.PHONY: setup test book synth clean-book chromium node lab
setup: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# The JavaScript the site ships (MathJax), from the npm registry as pinned by package-lock.json: no CDN at run time.
# Node and npm come from Debian's packages when missing.
$(NODE_STAMP): package.json package-lock.json
	@$(MAKE) --no-print-directory node
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

node:
	@command -v npm >/dev/null 2>&1 || \
	  ( $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm )

test: setup chromium
	$(PY) -m pytest -q tests

# The browser of tests/test_book.py: Debian's chromium, installed once (skipped when present). If it cannot be
# installed the browser test is skipped, with a warning here.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  ( $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium ) || \
	  echo "warning: could not install chromium; tests/test_book.py will skip its browser test"

synth: setup
	$(VENV)/bin/audiotag data synth --dest data/synth

# The book: generate the synthetic corpus (when DATA is the default), execute the notebooks with papermill under
# PROFILE into chapters/, render the site with jupyter-book build -W; prints where the site is and writes
# build/results.json (scores, wall time, machine, commit; `audiotag report` makes the README table from it).
# Runs go to runs/PROFILE on the synthetic corpus, runs/PROFILE-<data folder> on other data (RUNS=... to choose);
# results of other data to build/results-<data folder>.json, which the results page shows beside the synthetic ones.
book: setup
	$(PY) -m audiotag.book --profile $(PROFILE) --data $(DATA) $(if $(RUNS),--runs $(RUNS)) --jobs $(JOBS) \
	  $(if $(filter data/synth,$(DATA)),--synth)

# The notebooks live in JupyterLab from the project's virtualenv (the ipywidgets explorers need a kernel). Opens on
# 127.0.0.1:8888; LAB_ARGS adds options, e.g. make lab LAB_ARGS="--no-browser --port 8890".
# Offline: no update check, no news feed, no extension manager looking things up on PyPI.
LAB_FLAGS := --notebook-dir=notebooks --ServerApp.ip=127.0.0.1 --LabApp.news_url=None \
  --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate --LabApp.extension_manager=readonly \
  $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)
lab: setup
	$(VENV)/bin/jupyter lab $(LAB_FLAGS) $(LAB_ARGS)

# Remove the executed notebooks and the site (the training runs in runs/ are kept: they are the expensive part).
clean-book:
	rm -rf chapters _build audiotag/book/static/vendor
