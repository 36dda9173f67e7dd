"""Operator programs apart from the stages: `make run`'s side-by-side `dvc repro`, the team tracking
server (PostgreSQL + mlflow server) and the MLflow UI."""
