"""`python -m bench`: the benchmarks and what each measures (the first line of its docstring)."""

from __future__ import annotations

import ast
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOT_BENCHMARKS = {"__init__", "__main__", "seed_loop"}  # `harness/` is a package: no .py here


def main() -> None:
    for path in sorted(HERE.glob("*.py")):
        if path.stem not in NOT_BENCHMARKS:
            doc = ast.get_docstring(ast.parse(path.read_text())) or ""
            print(f"python -m bench.{path.stem:<12} {doc.splitlines()[0] if doc else ''}")


if __name__ == "__main__":
    main()
