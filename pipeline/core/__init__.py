"""What every layer stands on: paths, the config schema, the DVC matrix rules, errors, atomic writes,
numeric pins, the environment record, where a run's files go."""
