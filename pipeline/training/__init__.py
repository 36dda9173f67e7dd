"""Training: arrays + model -> fitted model and history; seeded, checkpointed, resumable (no tracking)."""
