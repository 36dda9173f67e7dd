"""Packages of the wheel: `pipeline*` found in the tree, and conf/ (Hydra's YAML) installed as
`dropout_lab_conf`, so a non-editable install composes the same config. Everything else is in
pyproject.toml; pyproject.toml cannot combine found packages with a renamed folder, hence this file."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["pipeline*"]), "dropout_lab_conf"],
    package_dir={"dropout_lab_conf": "conf"},
    package_data={"dropout_lab_conf": ["*.yaml", "**/*.yaml"]},
)
