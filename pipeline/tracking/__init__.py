"""Tracking: the one layer that imports MLflow (runs, parents and children, queries, reconciliation)."""
