# The user's verbs. `make run` and `make test` work on a fresh clone with only Python 3.11 installed.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# DVC stages call `python` and `dvc`: let them find the project's environment first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: install run test lint format params sweep report ui bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --editable '.[dev]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install the project with dev extras

run: install  ## the whole DVC pipeline: download -> preprocess -> train -> evaluate -> compare
	dvc repro

test: install  ## the test suite
	$(PY) -m pytest

lint: install  ## ruff lint + format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

params: install  ## regenerate params.yaml from conf/
	$(PY) -m pipeline.params

sweep: install  ## a Hydra multirun: 3 rates x 3 seeds, one MLflow parent run
	$(PY) -m pipeline.train -m model.dropout.rate=0,0.2,0.5 train.seed=1,2,3

report: install  ## the comparison report of the latest MLflow sweep
	$(PY) -m pipeline.report

ui: install  ## the MLflow UI on http://127.0.0.1:5000
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlflow.db

bench: install  ## training-speed and sweep benchmarks (minutes)
	$(PY) bench/train_speed.py
	$(PY) bench/sweep_speed.py

clean:  ## remove pipeline outputs and Hydra folders (keeps mlflow.db)
	rm -rf outputs multirun
