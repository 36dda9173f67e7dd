"""The searched keys: a trial's values applied to the config, and the ranges checked up front.

No Optuna import: the space is plain config, and a bad key or range fails before any work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.core.config import SearchConfig, Settings, flatten, load_settings
from pipeline.core.errors import ConfigError


def with_values(settings: Settings, values: Mapping[str, float]) -> Settings:
    """`settings` with dotted keys set to `values`, validated again (a rate stays below 1)."""
    tree: dict[str, Any] = settings.model_dump()
    for key, value in values.items():
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return load_settings(tree)


def require_search(settings: Settings) -> SearchConfig:
    if settings.search is None:
        raise ConfigError(
            "no search chosen: add hparams_search=<name> (a conf/hparams_search/ file, e.g. "
            "hparams_search=dropout_optuna)"
        )
    return settings.search


def check_space(settings: Settings) -> SearchConfig:
    """Every searched key is a number of the config, and both ends of its range are valid values."""
    search = require_search(settings)
    flat = flatten(settings)
    for key, rng in search.params.items():
        current = flat.get(key)
        if key.startswith("search.") or isinstance(current, bool) or not isinstance(current, int | float):
            raise ConfigError(f"search.params.{key}: not a numeric key of the config (searchable: a number)")
        for end in (rng.low, rng.high):
            try:
                with_values(settings, {key: end})
            except ConfigError as exc:
                where = f"search.params.{key}: the range [{rng.low}, {rng.high}]"
                raise ConfigError(f"{where} leaves the allowed values: {exc}") from None
    for point in search.enqueue:
        unknown = set(point) - set(search.params)
        if unknown:
            searched = sorted(search.params)
            raise ConfigError(f"search.enqueue: {sorted(unknown)} are not searched keys ({searched})")
    return search
