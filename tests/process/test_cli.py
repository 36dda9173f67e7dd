"""The `dropout-lab` command (each verb's help, the module it runs), `make help`, and a wheel that
composes its config when installed outside the checkout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pipeline.process import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("verb", sorted(cli.VERBS))
def test_each_verb_describes_itself_in_its_help(verb: str, capsys: pytest.CaptureFixture[str], monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # argparse would break `--stale-after-s` at its hyphen
    with pytest.raises(SystemExit) as exit_:
        cli.command([verb, "--help"])
    assert exit_.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert " ".join(cli.VERBS[verb].description.split()) in shown


def test_the_top_help_lists_every_verb(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        cli.command(["--help"])
    shown = capsys.readouterr().out
    assert all(re.search(rf"^\s+{verb}\s+\S", shown, re.M) for verb in cli.VERBS), shown


def test_each_verb_runs_its_module_with_the_rest_of_the_line():
    python = sys.executable
    assert cli.command(["train", "train.epochs=2"]) == [python, "-m", "pipeline.train", "train.epochs=2"]
    assert cli.command(["sweep", "model.dropout.rate=0,0.5"]) == [
        python, "-m", "pipeline.train", "-m", "model.dropout.rate=0,0.5",
    ]  # fmt: skip
    assert cli.command(["runs", "reconcile", "--help"])[2:] == [
        "pipeline.tracking.reconcile",
        "reconcile",
        "--help",
    ]
    assert cli.command(["server", "stop"])[2:] == ["pipeline.tools.server", "stop"]
    assert cli.command(["evaluate"])[2:] == ["pipeline.evaluate"]
    assert cli.command(["tune", "hparams_search=dropout_optuna"])[2:] == [
        "pipeline.tune",
        "hparams_search=dropout_optuna",
    ]
    assert cli.command(["repro", "--force"])[2:] == ["pipeline.tools.repro", "--force"]
    assert cli.command(["ui", "--port", "5001"])[2:] == ["pipeline.tools.ui", "--port", "5001"]


def test_an_unknown_verb_is_refused_with_the_list(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_:
        cli.command(["trian", "train.epochs=2"])
    assert exit_.value.code == 2
    assert "invalid choice: 'trian'" in capsys.readouterr().err


def test_the_installed_command_says_its_version():
    from importlib.metadata import version

    command = Path(sys.executable).parent / "dropout-lab"  # the console script pyproject.toml declares
    done = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"dropout-lab {version('dropout-lab')}" == "dropout-lab 0.1.0"


def test_make_help_lists_every_described_target():
    targets = re.findall(r"^([a-zA-Z_-]+):.*## ", (ROOT / "Makefile").read_text(), re.M)
    shown = subprocess.run(
        ["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert targets and [line.split()[1] for line in shown.splitlines()] == targets


def test_bare_make_in_a_fresh_clone_shows_the_verbs_and_installs_nothing(tmp_path: Path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")  # all `make` reads; no .venv yet
    bare = subprocess.run(["make", "-s"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bare.returncode == 0, bare.stderr
    helped = subprocess.run(["make", "-s", "help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert bare.stdout == helped.stdout and "make run " in bare.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Makefile"]


def test_a_stage_help_says_what_the_app_is():
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.train", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dropout-lab train: one stage of the dropout pipeline")
    groups = dict(
        line.split(": ", 1)
        for line in done.stdout.splitlines()
        if line.startswith(("experiment: ", "model: "))
    )
    assert "paper" in groups["experiment"].split(", ") and groups["model"] == "cnn, mlp"


def test_a_wheel_installed_outside_the_checkout_finds_its_config(tmp_path: Path):
    """What `pip install .` (not editable) installs: the code and conf/ as `dropout_lab_conf`."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in ("pipeline", "conf"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels,
         source],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = wheels.glob("dropout_lab-*.whl")
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    assert (
        "dropout-lab = pipeline.process.cli:main"
        in next(installed.glob("*.dist-info/entry_points.txt")).read_text()
    )

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DROPOUT_LAB_")}
    env["PYTHONPATH"] = str(installed)
    script = (
        "import pipeline\nfrom pipeline.core import paths\n"
        "from pipeline.core.params import composed_settings\n"
        "print(pipeline.__file__); print(paths.CONF_DIR); print(paths.PROJECT_ROOT)\n"
        "print(composed_settings(['train.epochs=2', 'experiment=quick']).train.epochs)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    code, conf, root, epochs = done.stdout.split()
    assert Path(code).is_relative_to(installed) and Path(conf) == installed / "dropout_lab_conf"
    assert Path(root) == elsewhere and epochs == "2"
    train_help = subprocess.run(
        [sys.executable, "-m", "pipeline.process.cli", "train", "--help"], cwd=elsewhere, env=env,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert train_help.returncode == 0 and "Hydra overrides of conf/" in train_help.stdout
