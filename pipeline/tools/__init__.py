"""Operator programs apart from the stages: the team tracking server and the MLflow UI."""
