"""Hydra callbacks for sweeps: one MLflow parent run per sweep, its environment handed to Ray jobs."""
