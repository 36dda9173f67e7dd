"""Evaluation: model + test arrays -> metrics, Monte-Carlo dropout, plots and files (no tracking)."""
