"""The documentation site builds with `mkdocs build --strict`: a broken link, a missing anchor or a
page left out of the nav fails it (mkdocs.yml's `validation`), and so fails the test run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_site_builds_strictly(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs", reason="mkdocs is in the dev extra (make install)")
    site = tmp_path / "site"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--config-file",
            str(ROOT / "mkdocs.yml"),
            "--site-dir",
            str(site),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    assert (site / "index.html").is_file()
    assert (site / "paper" / "paper_comparison" / "index.html").is_file()


def _nav_pages(nav: list) -> list[str]:
    """mkdocs.yml's nav as its page files, in order (sections flattened)."""
    pages: list[str] = []
    for entry in nav:
        for value in entry.values():
            pages += _nav_pages(value) if isinstance(value, list) else [value]
    return pages


def _listed(text: str, heading: str, prefix: str) -> list[str]:
    """The pages linked by the bullet list under `heading` (`- [title](<prefix>page.md): ...`)."""
    import re

    section = text.split(f"\n{heading}\n", 1)[1].split("\n#", 1)[0]
    return [page.removeprefix(prefix) for page in re.findall(r"^- \[[^\]]+\]\(([^)]+)\)", section, re.M)]


def test_the_readme_and_the_home_page_list_every_page_of_the_site_in_its_order():
    import yaml

    pages = _nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])
    assert pages[0] == "index.md"
    expected = pages[1:]
    assert _listed((ROOT / "README.md").read_text(), "## Documentation", "docs/") == expected
    assert _listed((ROOT / "docs" / "index.md").read_text(), "## Pages", "") == expected


def test_the_command_tables_name_every_verb_and_only_real_ones():
    """Every `make` verb and `dropout-lab` verb is in the README's table; every `make X`,
    `python -m pipeline.<module>` and `dropout-lab <verb>` the README and the usage page name exists."""
    import importlib.util
    import re

    from pipeline.process.cli import VERBS

    readme = (ROOT / "README.md").read_text()
    usage = (ROOT / "docs" / "usage.md").read_text()
    made = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True)
    targets = {line.split()[1] for line in made.stdout.splitlines()}
    table = readme.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    assert not [t for t in sorted(targets) if f"`make {t}`" not in table and f"`make {t} " not in table]
    assert not [verb for verb in VERBS if f"`{verb}`" not in table]
    for text in (readme, usage):
        assert set(re.findall(r"`make ([a-z-]+)", text)) <= targets
        modules = set(re.findall(r"python -m (pipeline(?:\.\w+)+)", text))
        assert modules and not [m for m in modules if importlib.util.find_spec(m) is None]
        assert set(re.findall(r"`dropout-lab ([a-z]+)", text)) <= set(VERBS)
