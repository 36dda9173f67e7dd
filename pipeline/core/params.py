"""Regenerate `params.yaml` (the composed `conf/` config, as DVC sees it): `python -m pipeline.core.params`.

DVC composes `conf/` the same way on `dvc exp run -S`; a test keeps the two from drifting.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.singleton import Singleton
from omegaconf import OmegaConf

from pipeline.core.atomic import write_text_atomic
from pipeline.core.config import CONF_DIR, Settings, load_settings, project_path


@contextmanager
def _hydra_on_conf_dir() -> Iterator[None]:
    """Hydra initialised on `conf/` for the block, also inside a running Hydra app (every stage is
    one, and under DVC its config is params.yaml): the app's GlobalHydra is set aside and put back
    after, the way `hydra.initialize` backs up and restores it (`get_gh_backup`,
    `restore_gh_from_backup`), but the app gets its own object back, not a copy."""
    app = Singleton._instances.pop(GlobalHydra, None)
    try:
        with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
            yield
    finally:
        if isinstance(app, GlobalHydra):
            GlobalHydra.set_instance(app)


def compose_config(overrides: list[str] | None = None) -> str:
    """The YAML DVC would write for these overrides (Hydra node excluded, interpolations resolved)."""
    with _hydra_on_conf_dir():
        cfg = compose(config_name="config", overrides=overrides or [])
    OmegaConf.resolve(cfg)
    return OmegaConf.to_yaml(cfg)


def composed_settings(overrides: list[str] | None = None) -> Settings:
    """`conf/` composed and validated, for programs that are no Hydra app (operator tools)."""
    return load_settings(yaml.safe_load(compose_config(overrides)))


def default_rate() -> float:
    """The `model.dropout.rate` that `conf/` composes to when nobody sets it (0.5): what params.yaml
    holds unless a user asked for a rate. Composes `conf/` itself, never the app's config."""
    return composed_settings().model.dropout.rate


def main() -> None:
    target = project_path("params.yaml")
    write_text_atomic(target, compose_config())
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
