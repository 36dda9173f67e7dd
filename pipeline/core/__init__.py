"""Plumbing every layer uses: the config schema, how a process was launched, errors, signals, atomic writes, numeric pins."""
