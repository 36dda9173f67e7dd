"""Tracking: the only layer that imports MLflow (runs, parents and children, queries, crash reconciliation)."""
