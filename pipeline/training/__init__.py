"""Training: arrays + model -> fitted model, history and its files; seeded, checkpointed, resumable
(no tracking)."""
