"""The benchmarks' shared harness, on trivial commands: flags, timing whole commands, alternation, ratios.

The benchmarks themselves are long and not run here (speed is measured by `python -m bench.<name>`,
never by a timed test); this checks that every one imports and parses its flags, and that the harness
measures and compares real processes correctly.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `bench` is a folder of the checkout, not an installed package
    sys.path.insert(0, str(ROOT))

from bench.harness import Column, Parser, alternate, each, largest, median_of, ratio_table, run_child  # noqa: E402

MODULES = sorted(path.stem for path in (ROOT / "bench").glob("*.py") if path.stem != "__main__")
BENCHMARKS = [name for name in MODULES if name not in {"__init__", "harness", "seed_loop"}]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
FAST = [sys.executable, "-c", "pass"]
SLOW = [sys.executable, "-c", "import time; time.sleep(0.2)"]


@pytest.mark.parametrize("name", MODULES)
def test_every_bench_module_imports(name: str):
    module = importlib.import_module("bench" if name == "__init__" else f"bench.{name}")
    assert module.__doc__
    if name in BENCHMARKS:
        assert callable(module.main)
        assert f"python -m bench.{name}" in module.__doc__  # the usage line names the package form


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_benchmark_takes_the_common_flags(name: str, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [f"{name}.py", "--help"])
    with pytest.raises(SystemExit) as exited:  # its own main(): argparse prints the help and exits
        importlib.import_module(f"bench.{name}").main()
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    for flag in ("--cpus", "--rounds", "--epochs", "--quick"):
        assert flag in shown


def test_python_m_bench_lists_every_benchmark():
    done = subprocess.run(
        [sys.executable, "-m", "bench"], cwd=ROOT, env=ENV, capture_output=True, text=True, check=True
    )
    assert [line.split()[2] for line in done.stdout.splitlines()] == [f"bench.{n}" for n in BENCHMARKS]


def test_parser_fills_full_or_quick_defaults_and_flags_win():
    parser = Parser(
        "A benchmark.\n\nMore.", cpus="0", defaults={"rounds": 3, "epochs": 5}, quick={"epochs": 1}
    )
    full = parser.parse_args([])
    assert (full.rounds, full.epochs, full.cpus, full.quick) == (3, 5, "0", False)
    quick = parser.parse_args(["--quick"])
    assert (quick.rounds, quick.epochs) == (1, 1)
    explicit = parser.parse_args(["--quick", "--epochs", "4", "--runs", "2", "--cpus", ""])
    assert (explicit.rounds, explicit.epochs, explicit.cpus) == (2, 4, "")
    assert parser.description == "A benchmark."


def test_parser_takes_a_benchmarks_own_flags_with_full_and_quick_values():
    parser = Parser("x", defaults={"only": ["a", "b", "c"]}, quick={"only": ["a"]})
    parser.add_argument("--only", nargs="*")
    assert parser.parse_args([]).only == ["a", "b", "c"]
    assert parser.parse_args(["--quick"]).only == ["a"]
    assert parser.parse_args(["--quick", "--only", "c"]).only == ["c"]
    assert parser.parse_args([]).epochs is None  # not named: the config's own


def test_alternated_whole_commands_and_their_ratio(capsys):
    contenders = {
        "fast": lambda _: run_child(FAST, ENV, ROOT),
        "slow": lambda _: run_child(SLOW, ENV, ROOT),
    }
    results = alternate(contenders, range(1, 4))

    starts = [r["started"] for pair in zip(results["fast"], results["slow"], strict=True) for r in pair]
    assert starts == sorted(starts)  # fast, slow, fast, slow, ...: side by side, in one run
    assert all(r["wall"] > 0 and r["peak_mib"] > 1 for rs in results.values() for r in rs)
    assert min(r["wall"] for r in results["slow"]) >= 0.2
    assert "round 3 slow:" in capsys.readouterr().out

    columns = [
        Column("median wall s", median_of("wall"), fmt=".3f"),
        Column("rounds", each("wall"), fmt=""),
        Column("peak MiB", largest("peak_mib"), fmt=".0f"),
    ]
    text = ratio_table(results, columns, [("slow", "fast", "sleep vs pass")], {"fast": "(fast) pass"})
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["contender", "median", "wall", "s"]
    assert lines[1].strip().startswith("(fast) pass")
    assert lines[2].strip().startswith("slow")
    ratio_row = lines[3].split()
    assert ratio_row[:5] == ["ratio", "(slow)/(fast):", "sleep", "vs", "pass"]
    wall_ratio = float(ratio_row[5])
    expected = median_of("wall")(results["slow"]) / median_of("wall")(results["fast"])
    assert wall_ratio > 1
    assert wall_ratio == pytest.approx(expected, abs=1e-3)


def test_run_child_reads_the_result_line_and_pins_to_cpus():
    code = "import os; from bench.seed_loop import emit; emit({'cpus': sorted(os.sched_getaffinity(0))})"
    result = run_child([sys.executable, "-c", code], ENV, ROOT, cpus="0")
    assert result["cpus"] == [0]


def test_run_child_fails_loudly_with_the_tail_of_stderr():
    with pytest.raises(RuntimeError, match=r"exit 3[\s\S]*went wrong"):
        run_child(
            [sys.executable, "-c", "import sys; print('went wrong', file=sys.stderr); sys.exit(3)"], ENV, ROOT
        )
