"""Regenerate `params.yaml` (the composed `conf/` config, as DVC sees it): `python -m pipeline.core.params`.

DVC composes `conf/` the same way on `dvc exp run -S`; a test keeps the two from drifting.
"""

from __future__ import annotations

import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from pipeline.core.atomic import write_text_atomic
from pipeline.core.config import Settings, load_settings
from pipeline.core.paths import CONF_DIR, project_path


def compose_config(overrides: list[str] | None = None) -> str:
    """The YAML DVC would write for these overrides (Hydra node excluded, interpolations resolved)."""
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides or [])
    OmegaConf.resolve(cfg)
    return OmegaConf.to_yaml(cfg)


def composed_settings(overrides: list[str] | None = None) -> Settings:
    """`conf/` composed and validated, for programs that are no Hydra app (operator tools)."""
    return load_settings(yaml.safe_load(compose_config(overrides)))


def main() -> None:
    target = project_path("params.yaml")
    write_text_atomic(target, compose_config())
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
