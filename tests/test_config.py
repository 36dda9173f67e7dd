"""Config: params.yaml never drifts from conf/, and bad values fail early with key, value and rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import hydra
import pytest
import yaml
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from omegaconf import DictConfig

from pipeline.core.config import CONF_DIR, ConfigError, flatten, load_settings
from pipeline.core.params import compose_config, composed_settings, default_rate

ROOT = CONF_DIR.parent


def test_params_yaml_is_the_composed_conf():
    on_disk = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert on_disk == yaml.safe_load(compose_config()), "params.yaml drifted: run `make params`"


def test_defaults_are_the_seed_notebook_setup():
    s = load_settings(yaml.safe_load(compose_config()))
    assert s.model.hidden_units == [128, 64]
    assert s.model.activation == "relu"
    assert s.model.dropout.rate == 0.5
    assert (s.train.epochs, s.train.batch_size, s.train.optimizer) == (20, 32, "adam")
    assert s.data.val_fraction == 0.2
    assert s.sweep.rates == [0.0, 0.2, 0.5]


@pytest.mark.parametrize(
    ("override", "key", "value"),
    [
        ("model.dropout.rate=1.0", "model.dropout.rate", "1.0"),
        ("model.dropout.rate=-0.1", "model.dropout.rate", "-0.1"),
        ("model.dropout.input_rate=2", "model.dropout.input_rate", "2"),
        ("model.dropout.impl=torch", "model.dropout.impl", "'torch'"),
        ("data.train_size=-5", "data.train_size", "-5"),
        ("data.val_fraction=0", "data.val_fraction", "0"),
        ("train.optimizer=adagrad9", "train.optimizer", "'adagrad9'"),
        ("train.epochs=0", "train.epochs", "0"),
        ("sweep.rates=[0.1,1.5]", "sweep.rates.1", "1.5"),
        ("sweep.rates=[0,0.3]", "sweep.rates.0", "0"),  # DVC would name its outputs rate_0
        ("model.hidden_units=[]", "model.hidden_units", "[]"),
    ],
)
def test_bad_values_name_key_value_and_rule(override, key, value):
    with pytest.raises(ConfigError) as caught:
        load_settings(yaml.safe_load(compose_config([override])))
    message = str(caught.value)
    assert f"{key} = {value}:" in message


def test_every_bad_value_is_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        load_settings(yaml.safe_load(compose_config(["train.epochs=0", "model.dropout.rate=3"])))
    assert "train.epochs" in str(caught.value) and "model.dropout.rate" in str(caught.value)


def test_flatten_gives_dotted_keys():
    flat = flatten(load_settings(yaml.safe_load(compose_config())))
    assert flat["model.dropout.rate"] == 0.5
    assert flat["train.seed"] == 42
    assert "model.dropout" not in flat


@pytest.mark.parametrize("stage", ["download", "preprocess", "train", "evaluate", "report"])
def test_a_stage_refuses_a_bad_value_before_importing_tensorflow(stage: str, tmp_path: Path):
    probe = (
        "import sys\n"
        f"from pipeline import {stage} as stage\n"
        f"sys.argv = ['{stage}', 'model.dropout.rate=1.5', 'hydra.run.dir={tmp_path}']\n"
        "try:\n    stage.main()\n"
        "except SystemExit as exit:\n"
        "    print('exit', exit.code, 'tensorflow' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert "exit 2 False" in done.stdout, done.stdout + done.stderr
    assert "model.dropout.rate = 1.5: Input should be less than 1" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("recipe", [None, "dropout", "standard"])
@pytest.mark.parametrize("preset", sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")))
def test_experiment_presets_compose_to_a_rate_the_dvc_matrix_runs(preset: str, recipe: str | None):
    """Under DVC the train stage refuses a rate that is neither one of `sweep.rates` nor conf/'s
    default (the matrix would ignore it), so `dvc exp run -S experiment=<preset>` (with either
    paper recipe too) passes validation in every stage of its matrix."""
    overrides = [f"experiment={preset}", *([f"paper_recipe={recipe}"] if recipe else [])]
    settings = composed_settings(overrides)
    assert settings != composed_settings()
    rate = settings.model.dropout.rate
    assert rate in settings.sweep.rates or rate == default_rate()
    for item in settings.sweep.rates:  # each stage of its matrix, as dvc.yaml's command runs it
        params = yaml.safe_load(compose_config([*overrides, f"+sweep.item={item}"]))
        assert load_settings(params, default_rate=default_rate).model.dropout.rate == item


def _search_path() -> list[tuple[str | None, str | None]]:
    return [(e.provider, e.path) for e in GlobalHydra.instance().config_loader().get_search_path().get_path()]


def test_the_default_rate_composes_conf_inside_a_running_hydra_app(tmp_path: Path, monkeypatch):
    """A stage runs on params.yaml (`--config-dir . --config-name params`, whose rate may be the
    user's); `default_rate` still composes conf/, and the app's GlobalHydra is the same after."""
    (tmp_path / "params.yaml").write_text(compose_config(["model.dropout.rate=0.3"]))
    monkeypatch.setattr(Singleton, "_instances", dict(Singleton._instances))  # the app's, dropped after
    argv = ["app", "hydra/job_logging=none", "hydra/hydra_logging=none", "hydra.output_subdir=null"]
    monkeypatch.setattr(sys, "argv", [*argv, f"hydra.run.dir={tmp_path / 'run'}"])
    seen: dict[str, object] = {}

    def task(cfg: DictConfig) -> None:
        app, search_path = GlobalHydra.instance(), _search_path()
        seen["rates"] = (cfg.model.dropout.rate, default_rate())
        seen["same app"] = GlobalHydra.instance() is app and app.is_initialized()
        seen["same search path"] = _search_path() == search_path and ("main", str(tmp_path)) in search_path
        seen["job config"] = HydraConfig.get().job.config_name

    hydra.main(version_base="1.3", config_path=str(tmp_path), config_name="params")(task)()
    assert seen == {"rates": (0.3, 0.5), "same app": True, "same search path": True, "job config": "params"}
