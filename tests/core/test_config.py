"""Config: params.yaml never drifts from conf/, and bad values fail early with key, value and rule."""

from __future__ import annotations

import subprocess
import sys
from itertools import product
from pathlib import Path

import pytest
import yaml

from pipeline.core.config import flatten, load_settings
from pipeline.core.errors import ConfigError
from pipeline.core.layout import dvc_files
from pipeline.core.params import compose_config, composed_settings
from pipeline.core.paths import CONF_DIR

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
    assert len(s.sweep.seeds) == 3 and s.train.seed in s.sweep.seeds  # its DVC runs are seed 42's


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
        ("sweep.rates=[0.2,0.2]", "sweep.rates", "[0.2, 0.2]"),
        ("sweep.seeds=[1,1]", "sweep.seeds", "[1, 1]"),
        ("sweep.seeds=[1,2.0]", "sweep.seeds.1", "2.0"),  # DVC would name its outputs seed_2.0
        ("sweep.seeds=[-1]", "sweep.seeds.0", "-1"),
        ("sweep.seeds=[]", "sweep.seeds", "[]"),
        ("model.hidden_units=[]", "model.hidden_units", "[]"),
        ("model.name=resnet", "model.name", "'resnet'"),
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
        f"sys.argv = ['{stage}', 'model=cnn', 'model.dropout.rate=1.5', 'model.kernel_size=0', "
        f"'hydra.run.dir={tmp_path}']\n"
        "try:\n    stage.main()\n"
        "except SystemExit as exit:\n"
        "    print('exit', exit.code, 'tensorflow' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert "exit 2 False" in done.stdout, done.stdout + done.stderr
    assert "model.dropout.rate = 1.5: Input should be less than 1" in done.stderr
    assert "model.kernel_size = 0: Input should be greater than 0" in done.stderr  # the CNN's own key
    assert "Traceback" not in done.stderr


def _refused(*overrides: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(yaml.safe_load(compose_config(list(overrides))))
    return str(caught.value)


def test_a_model_validates_its_own_keys_and_refuses_another_models():
    message = _refused("model=cnn", "model.filters=[0]", "model.feature_dropout.rate=1")
    assert "model.filters.0 = 0: Input should be greater than 0" in message
    assert "model.feature_dropout.rate = 1: Input should be less than 1" in message
    assert "model.filters: unknown key" in _refused("+model.filters=[8]")  # the MLP has no filters
    assert "no such model; the models are cnn, mlp" in _refused("model.name=resnet")


def test_the_cnn_config_keeps_its_own_keys_in_the_flat_params():
    flat = flatten(load_settings(yaml.safe_load(compose_config(["model=cnn"]))))
    assert (flat["model.name"], flat["model.filters"]) == ("cnn", [32, 64])
    assert (flat["model.feature_dropout.kind"], flat["model.dropout.rate"]) == ("spatial", 0.5)


@pytest.mark.parametrize("recipe", [None, "dropout", "standard"])
@pytest.mark.parametrize("preset", sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml")))
def test_experiment_presets_compose_and_every_stage_of_their_dvc_matrix_validates(preset, recipe):
    """`dvc exp run -S experiment=<preset>` (with either paper recipe too): params.yaml composes,
    and each stage of its matrix (params.yaml with its item as `model.dropout.rate` and `train.seed`)
    validates and writes the paths DVC names after the item."""
    overrides = [f"experiment={preset}", *([f"paper_recipe={recipe}"] if recipe else [])]
    settings = composed_settings(overrides)
    assert settings != composed_settings()
    for rate, seed in product(settings.sweep.rates, settings.sweep.seeds):  # as dvc.yaml's commands
        params = yaml.safe_load(
            compose_config([*overrides, f"model.dropout.rate={rate}", f"train.seed={seed}"])
        )
        item = load_settings(params)
        assert (item.model.dropout.rate, item.train.seed) == (rate, seed)
        assert (
            dvc_files(item).model_dir.name == f"rate_{rate}_seed_{seed}"
        )  # DVC's ${item.rate}, ${item.seed}
