# The user's verbs. `make run` and `make test` work on a fresh clone with only Python 3.11 installed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Every install comes from uv.lock (exact versions and hashes), one stamp per set of extras: `make run`
# stays lean (core dependencies only), `make test` installs what every test needs.
EXTRAS_run    :=
EXTRAS_server := --extra server
EXTRAS_test   := --extra dev --extra server --extra cluster --extra tune
EXTRAS_tune   := --extra tune
EXTRAS_notebook := --extra notebook
SERVER_PORT   ?= 5000
# uv itself, pinned by hash: the one package installed before the lock can be read.
UV_PIN := uv==0.13.9 --hash=sha256:d7f459fe4fd247d830351c75686d3996ace3c6f3f728eb0e85a30b7ada0cef19
UV     := $(VENV)/bin/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)
# DVC stages call `python` and `dvc`: let them find the project's environment first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

# Bare `make` shows the verbs (help), never installs.
.DEFAULT_GOAL := help
.PHONY: help install run test test-all durations lock lint format params sweep report tune notebook ui server server-stop bench clean

$(UV):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo '$(UV_PIN)' > $(VENV)/uv-requirements.txt
	$(PY) -m pip install --quiet --require-hashes -r $(VENV)/uv-requirements.txt

# --frozen: install exactly what uv.lock says (never re-resolve); --inexact: keep uv itself.
# --compile-bytecode: every stage and test process imports TensorFlow, which from source takes
# seconds longer, each time where PYTHONDONTWRITEBYTECODE keeps Python from caching it. A change
# of these install flags (this Makefile) installs again.
$(VENV)/.installed-%: pyproject.toml uv.lock Makefile | $(UV)
	$(UV) sync --frozen --inexact --quiet --compile-bytecode $(EXTRAS_$*)
	@touch $@

help:  ## this list: the verbs of this Makefile
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(VENV)/.installed-test  ## create .venv and install the project with every extra

# environment.json (what made the committed results) is rewritten only when a result changed.
run: $(VENV)/.installed-run  ## the whole DVC pipeline: download -> preprocess -> train -> evaluate -> compare
	$(PY) -m pipeline.tools.repro --environment environment.json  # dvc repro, the rates trained side by side

# Both tiers run on every core (xdist), a test file per worker: module fixtures (a whole `dvc repro`,
# a tracking server) are made once. The fast tier still runs a real `dvc repro`, multirun and MLflow store.
# Files start in collection order, which tests/conftest.py sets longest first by the durations
# `make durations` stored, so the workers finish together (xdist's own order, by number of tests,
# would leave the minutes-long files for last).
PYTEST_XDIST := -n auto --dist loadfile --no-loadscope-reorder

test: $(VENV)/.installed-test  ## the fast test tier (minutes): every test not marked slow
	$(PY) -m pytest -m "not slow" $(PYTEST_XDIST)

test-all: $(VENV)/.installed-test  ## every test: team scale, paper presets, faults, process kills too (CI)
	$(PY) -m pytest $(PYTEST_XDIST)

durations: $(VENV)/.installed-test  ## run every test and store each file's duration (tests/durations.json), which orders the runs
	$(PY) -m pytest $(PYTEST_XDIST) --store-durations

lock: | $(UV)  ## re-resolve uv.lock after a change to pyproject.toml; export it for MLflow Projects
	$(UV) lock
	$(UV) export --frozen --no-emit-project --format requirements-txt --quiet -o requirements.lock.txt

lint: install  ## ruff lint + format check, and the type checker (mypy) over pipeline/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install  ## ruff: fix what it can, then format
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Phony: docs/ (and scripts/) are folders, which make would take as the targets, always up to date.
.PHONY: docs readme
docs: $(VENV)/.installed-test  ## the documentation site into site/ (mkdocs, strict: a broken link fails)
	$(VENV)/bin/mkdocs build --strict --site-dir site

readme:  ## regenerate the README's results table from the committed reports/comparison.json
	$(PYTHON) scripts/readme_table.py --write

params: $(VENV)/.installed-run  ## regenerate params.yaml from conf/
	$(PY) -m pipeline.core.params

sweep: $(VENV)/.installed-run  ## a Hydra multirun: 3 rates x 3 seeds, one MLflow parent run
	$(PY) -m pipeline.train -m model.dropout.rate=0,0.2,0.5 train.seed=1,2,3

# Every trial an MLflow child of one parent; Ctrl-C and the same command continues the study.
tune: $(VENV)/.installed-tune  ## a hyperparameter search with Optuna: dropout rates and learning rate (docs/tuning.md)
	$(PY) -m pipeline.tune hparams_search=dropout_optuna $(ARGS)

# JupyterLab refuses to start as root unless told (containers and CI machines run as root).
notebook: $(VENV)/.installed-notebook  ## JupyterLab on notebooks/dropout_story.ipynb (the story, with its outputs)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) notebooks/dropout_story.ipynb $(ARGS)

report: $(VENV)/.installed-run  ## the comparison report of the latest MLflow sweep
	$(PY) -m pipeline.report

ui: $(VENV)/.installed-run  ## the MLflow UI, lean; prints the URL of the experiment's runs page
	$(PY) -m pipeline.tools.ui --port $(SERVER_PORT)

server: $(VENV)/.installed-server  ## team tracking server: PostgreSQL + mlflow server on 127.0.0.1 (AUTH=1: basic auth)
	$(PY) -m pipeline.tools.server start --port $(SERVER_PORT) $(if $(AUTH),--auth)

server-stop: $(VENV)/.installed-server  ## stop the tracking server and its PostgreSQL
	$(PY) -m pipeline.tools.server stop

bench: install  ## the speed targets: floor, whole run, pipeline, sweep (about 30 minutes); outputs in bench/results/
	$(PY) -m bench.floor | tee bench/results/floor.txt
	$(PY) -m bench.whole_run --rounds 2 | tee bench/results/whole_run.txt
	$(PY) -m bench.pipeline_run | tee bench/results/pipeline_run.txt
	$(PY) -m bench.sweep_speed | tee bench/results/sweep_speed.txt

clean:  ## remove pipeline outputs and Hydra folders (keeps mlflow.db)
	rm -rf outputs multirun
