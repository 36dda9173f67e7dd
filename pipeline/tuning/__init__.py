"""Tuning: hyperparameter searches with Optuna (the one layer that imports it): the search space,
the study and its storage beside the tracking store, trials as MLflow children of one parent run."""
