"""The README is a front door: short, its results table generated from the committed report, and
neither it nor the docs carry history (issue numbers, dates, one machine's paths, recollections)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
MAX_LINES = 250


def _readme_table():
    spec = importlib.util.spec_from_file_location("readme_table", ROOT / "scripts" / "readme_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _between_markers(text: str, start: str, end: str) -> str:
    assert text.count(start) == 1, f"expected one {start!r}"
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


BLOCKS = [(name, report, target) for name, report, targets in _readme_table().BLOCKS for target in targets]


@pytest.mark.parametrize(("name", "report", "target"), BLOCKS, ids=lambda v: str(v))
def test_each_results_table_is_what_the_script_renders_from_its_committed_report(
    name: str, report: Path, target: Path
) -> None:
    rt = _readme_table()
    expected = rt.render(json.loads((ROOT / report).read_text()))
    shown = _between_markers((ROOT / target).read_text(), rt.start_marker(name, report), rt.end_marker(name))
    assert shown == expected, f"{target}'s {name} table is stale: run `make readme`"


def test_the_check_mode_agrees(tmp_path: Path) -> None:
    rt = _readme_table()
    assert rt.main(["--check"]) == 0
    # A copy whose report changed is reported stale, and --write brings it back in line.
    for rel in {path for _, report, targets in rt.BLOCKS for path in (report, *targets)}:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((ROOT / rel).read_text())
    report = json.loads((tmp_path / rt.REPORT).read_text())
    report["rows"][0]["test_accuracy_mean"] = 0.1234
    (tmp_path / rt.REPORT).write_text(json.dumps(report))
    assert rt.main(["--check", "--root", str(tmp_path)]) == 1
    assert rt.main(["--write", "--root", str(tmp_path)]) == 0
    assert rt.main(["--check", "--root", str(tmp_path)]) == 0
    assert "| 0.1234 ± " in (tmp_path / "README.md").read_text()  # the committed report has 3 seeds


def test_the_readme_is_at_most_250_lines() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines; move detail to docs/"


# History has no place in the front door or the docs: what a reader cannot check from the repository.
FORBIDDEN = {
    "an issue number": re.compile(r"\bissue\s*#?\s*[0-9]", re.IGNORECASE),
    "a machine path": re.compile(r"/work/"),
    "a year": re.compile(r"\b20[23][0-9]\b"),  # 2020-2039 (not 2048 units)
    "a date": re.compile(
        r"\b\d{1,2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\b|\b\d{4}-\d{2}-\d{2}\b"
    ),
    "a recollection": re.compile(r"as I recall|I remember|from memory", re.IGNORECASE),
}
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_history_in_the_readme_or_the_docs(page: Path) -> None:
    found = [
        f"line {n}: {what}: {line.strip()}"
        for n, line in enumerate(page.read_text().splitlines(), 1)
        for what, pattern in FORBIDDEN.items()
        if pattern.search(line)
    ]
    assert not found, "\n".join(found)


def test_the_readme_links_to_files_that_exist() -> None:
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert local, "the README should link to the docs"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, f"README.md links to missing files: {missing}"
