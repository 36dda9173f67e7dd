"""Plumbing for every layer: config schema, launch, errors, signals, atomic writes, numeric pins."""
