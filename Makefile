# The user's verbs. `make run` and `make test` work on a fresh clone with only Python 3.11 installed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# One install stamp per set of extras: `make run` stays lean (core dependencies only), `make test`
# installs what every test needs (dev tools, the tracking server's and the cluster launchers' extras).
EXTRAS_run    :=
EXTRAS_server := [server]
EXTRAS_test   := [dev,server,cluster]
SERVER_PORT   ?= 5000
# DVC stages call `python` and `dvc`: let them find the project's environment first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install run test lint format params sweep report ui server server-stop bench clean

$(VENV)/.installed-%: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --editable '.$(EXTRAS_$*)'
	@touch $@

install: $(VENV)/.installed-test  ## create .venv and install the project with every extra

run: $(VENV)/.installed-run  ## the whole DVC pipeline: download -> preprocess -> train -> evaluate -> compare
	dvc repro

test: $(VENV)/.installed-test  ## the test suite
	$(PY) -m pytest

lint: install  ## ruff lint + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

params: $(VENV)/.installed-run  ## regenerate params.yaml from conf/
	$(PY) -m pipeline.params

sweep: $(VENV)/.installed-run  ## a Hydra multirun: 3 rates x 3 seeds, one MLflow parent run
	$(PY) -m pipeline.train -m model.dropout.rate=0,0.2,0.5 train.seed=1,2,3

report: $(VENV)/.installed-run  ## the comparison report of the latest MLflow sweep
	$(PY) -m pipeline.report

ui: $(VENV)/.installed-run  ## the MLflow UI, lean; prints the URL of the experiment's runs page
	$(PY) -m pipeline.ui --port $(SERVER_PORT)

server: $(VENV)/.installed-server  ## team tracking server: PostgreSQL + mlflow server on 127.0.0.1 (AUTH=1: basic auth)
	$(PY) -m pipeline.server start --port $(SERVER_PORT) $(if $(AUTH),--auth)

server-stop: $(VENV)/.installed-server  ## stop the tracking server and its PostgreSQL
	$(PY) -m pipeline.server stop

bench: install  ## whole-run, pipeline, per-epoch, memory and team-scale benchmarks (about 40 minutes)
	$(PY) bench/whole_run.py
	$(PY) bench/pipeline_run.py
	$(PY) bench/train_speed.py
	$(PY) bench/memory.py
	$(PY) bench/team_scale.py

clean:  ## remove pipeline outputs and Hydra folders (keeps mlflow.db)
	rm -rf outputs multirun
