"""One benchmark's run, from its flags to its last line: `benchmark` turns a function of a `Session`
into the command `python -m bench.<name>`, so every benchmark opens and closes alike.

The command parses the common flags, or, called as its own child (`--child <spec>`), runs the
benchmark's child function and exits. Otherwise it prints the machine and its load, makes a
throw-away folder, runs the function with a session on it, and prints the load again at the end (a
busy machine shows in both).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness.children import Result, alternate, brief, run_child, serve
from bench.harness.flags import Parser
from bench.harness.workspace import Workspace, prepare_workspace


def machine_line() -> str:
    """The machine and how busy it is."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "unknown CPU")
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    python = sys.version.split()[0]
    return f"{os.cpu_count()} cores ({model}), {mem_gb:.0f} GB RAM, Python {python}; load average {load}"


@dataclass
class Session:
    """A benchmark's run: its parsed flags, its throw-away folder and, made there on first use, the
    workspace with MNIST. Its commands run pinned to `--cpus` and its contenders for `--rounds`."""

    module: str  # the benchmark's module, `bench.<name>`: what its children run
    args: argparse.Namespace
    root: Path

    @functools.cached_property
    def workspace(self) -> Workspace:
        return prepare_workspace(self.root)

    def run(
        self, argv: Iterable[Any], env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> Result:
        """A whole command timed (`run_child`), in the workspace unless `env` and `cwd` say otherwise."""
        env = self.workspace.env() if env is None else env
        return run_child(list(argv), env, cwd or self.workspace.root, self.args.cpus)

    def child(
        self, spec: Mapping[str, Any], env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> Result:
        """The benchmark's own child process on `spec` (the keyword arguments of its child function)."""
        return self.run([sys.executable, "-m", self.module, "--child", json.dumps(spec)], env, cwd)

    def alternate(
        self,
        contenders: Mapping[str, Callable[[Any], Result]],
        describe: Callable[[Result], str] = brief,
        label: str = "round",
        rounds: Iterable[Any] | None = None,
    ) -> dict[str, list[Result]]:
        """The contenders alternated for `--rounds` rounds (1, 2, ...), or over `rounds`."""
        return alternate(contenders, rounds or range(1, self.args.rounds + 1), describe, label)


def benchmark(
    doc: str,
    *,
    child: Callable[..., Result | None] | None = None,
    flags: Mapping[str, Mapping[str, Any]] | None = None,
    **parser: Any,
) -> Callable[[Callable[[Session], None]], Callable[[], None]]:
    """Decorate a benchmark's function of a `Session` into its command's `main()`.

    `doc`: the module's docstring (its first line is the description); `parser`: the `Parser`'s
    options (cpus, defaults, quick, steady_state); `flags`: the benchmark's own flags, name ->
    `add_argument` options; `child`: what `python -m bench.<name> --child <spec>` runs (see
    `children.serve`).
    """

    def decorate(measure: Callable[[Session], None]) -> Callable[[], None]:
        module = sys.modules[measure.__module__]
        name = module.__spec__.name if module.__spec__ else measure.__module__  # `python -m`: __main__

        def main() -> None:
            options = Parser(doc, **parser)
            for flag, settings in (flags or {}).items():
                options.add_argument(flag, **settings)
            args = options.parse_args()
            if args.child:
                if child is None:
                    options.error("this benchmark runs no child")
                serve(child, args.child)
            short = name.rpartition(".")[2]
            print(f"{short}: {machine_line()}; pinned to CPUs {args.cpus or 'all'}", flush=True)
            with tempfile.TemporaryDirectory(prefix=f"dropout-lab-{short}-") as tmp:
                measure(Session(name, args, Path(tmp)))
            print(f"end: {machine_line()}")

        return main

    return decorate
