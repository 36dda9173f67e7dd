"""Hydra callbacks: a sweep's MLflow parent run, its environment handed to Ray jobs, and the
evaluation of each training a `conf/` run makes."""
