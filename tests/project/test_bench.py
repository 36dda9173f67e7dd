"""The benchmarks' shared harness, on trivial commands: a benchmark's opening and closing, its child
processes, flags, timing whole commands, alternation, ratios, the workspace.

The benchmarks themselves are long and not run here (speed is measured by `python -m bench.<name>`,
never by a timed test); this checks that every one imports and parses its flags, and that the harness
measures and compares real processes correctly (`tests/helpers/toy_benchmark.py` is a whole benchmark
on trivial commands).
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

from bench.harness.children import alternate, run_child  # noqa: E402
from bench.harness.flags import Parser  # noqa: E402
from bench.harness.tables import Column, each, largest, median_of, ratio_table, steady, within  # noqa: E402
from bench.harness.workspace import unpinned  # noqa: E402
from pipeline.core.numerics import PINS, UNPINNED_ENV  # noqa: E402

MODULES = sorted(path.stem for path in (ROOT / "bench").glob("*.py") if path.stem != "__main__")
BENCHMARKS = [name for name in MODULES if name not in {"__init__", "seed_loop"}]
HARNESS = sorted(f"harness.{path.stem}" for path in (ROOT / "bench" / "harness").glob("*.py"))
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
FAST = [sys.executable, "-c", "pass"]
SLOW = [sys.executable, "-c", "import time; time.sleep(0.2)"]


@pytest.mark.parametrize("name", MODULES + HARNESS)
def test_every_bench_module_imports(name: str):
    module = importlib.import_module(f"bench.{name}".removesuffix(".__init__"))
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


def test_a_benchmark_opens_runs_its_own_children_alternated_and_closes():
    done = subprocess.run(
        [sys.executable, "-m", "tests.helpers.toy_benchmark", "--rounds", "2", "--cpus", "0"],
        cwd=ROOT, env=ENV, capture_output=True, text=True, check=True,
    )  # fmt: skip
    lines = done.stdout.splitlines()
    assert lines[0].startswith("toy_benchmark: ") and lines[0].endswith("; pinned to CPUs 0")
    assert "load average" in lines[0] and lines[-1].startswith("end: ") and "load average" in lines[-1]
    root, parent = lines[1].removeprefix("root: ").split("; parent pid ")
    progress = [line.split(":")[0].strip() for line in lines if line.startswith("  round")]
    assert progress == ["round 1 bare", "round 1 child", "round 2 bare", "round 2 child"]
    children = [line for line in lines if line.startswith("  round") and " child: " in line]
    pids = {line.split("pid ")[1].split(",")[0] for line in children}
    assert len(pids) == 2 and parent not in pids  # a fresh process each round, not the parent
    assert all(line.endswith("cpus [0]") for line in children)  # its result line, pinned to --cpus
    ratio_row = next(line for line in lines if line.startswith("ratio (child)/(bare)"))
    assert float(ratio_row.split()[-1]) > 1  # the child sleeps 0.2 s; `python -c pass` does not
    assert any(line.startswith("PASS  bare / child = ") for line in lines)
    assert "workspace made: False" in lines  # MNIST is prepared only for a benchmark that uses it
    assert not Path(root).exists()  # the throw-away folder is gone


def test_a_benchmark_without_a_child_refuses_to_run_as_one():
    done = subprocess.run(
        [sys.executable, "-m", "bench.whole_run", "--child", "{}"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "error: this benchmark runs no child" in done.stderr
    assert "Traceback" not in done.stderr and not done.stdout


@pytest.mark.parametrize("name", ["floor", "levers", "pins"])
def test_steady_state_benchmarks_refuse_a_single_epoch(name: str, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [f"{name}.py", "--epochs", "1"])
    with pytest.raises(SystemExit) as exited:  # before any output, workspace or child
        importlib.import_module(f"bench.{name}").main()
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert not out
    assert "--epochs must be at least 2 (epochs 2..n are the steady state)" in err


def test_targets_print_pass_or_fail_against_their_bound():
    assert (
        within("whole process (b)/(a)", 0.5, 0.55) == "PASS  whole process (b)/(a) = 0.500 (target <= 0.55)"
    )
    assert (
        within("peak", 1100.4, 1024, fmt=".0f", unit=" MiB") == "FAIL  peak = 1100 MiB (target <= 1024 MiB)"
    )
    assert steady({"epoch_seconds": [9.0, 1.0, 3.0, 2.0]}) == 2.0  # epoch 1 (tracing) left out


def test_unpinned_drops_every_numeric_pin_but_those_kept():
    env = {**PINS, "PATH": "/bin"}
    assert unpinned(env) == {"PATH": "/bin", UNPINNED_ENV: "1"}
    key, value = next(iter(PINS.items()))
    assert unpinned(env, {key: value}) == {"PATH": "/bin", UNPINNED_ENV: "1", key: value}


def test_the_workspace_holds_mnist_split_by_the_package_and_a_ready_store(tmp_path: Path):
    import mlflow
    import numpy as np

    from bench.harness.workspace import prepare_workspace, settings_for
    from pipeline.data.build import load_for

    ws = prepare_workspace(tmp_path)
    with np.load(ws.raw_npz) as raw:  # what the seed notebook's `mnist.load_data()` returns
        shapes = [raw[key].shape for key in ("xtr", "ytr", "xte", "yte")]
    assert shapes == [(60000, 28, 28), (60000,), (10000, 28, 28), (10000,)]
    settings = settings_for(ws.overrides)
    data = load_for(settings.data, ws.root)  # what a child with DROPOUT_LAB_ROOT at the root trains on
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (48000, 12000, 10000)
    client = mlflow.MlflowClient(tracking_uri=ws.tracking_uri)
    assert client.get_experiment_by_name(settings.tracking.experiment) is not None  # made before any timing
    env = ws.env()
    assert env["DROPOUT_LAB_ROOT"] == str(tmp_path) and env["PYTHONPATH"] == str(ROOT)
    assert "MLFLOW_TRACKING_URI" not in env
