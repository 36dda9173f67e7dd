"""The flags every benchmark takes, with its own defaults for a full run and for `--quick`."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any


class Parser(argparse.ArgumentParser):
    """The common flags; a benchmark names their full and quick values in `defaults` and `quick`.

    --cpus    taskset CPU list for every timed child ('' = no pinning)
    --rounds  rounds of the contenders, alternated (also spelled --runs)
    --epochs  epochs per training (at least 2 with `steady_state`: epochs 2..n are its figure)
    --quick   smoke run: the smallest settings that still print every figure
    A benchmark adds its own flags with default None and names their full and quick values in
    `defaults` and `quick`; `parse_args` fills in whichever applies.
    """

    def __init__(
        self,
        doc: str,
        *,
        cpus: str = "",
        defaults: Mapping[str, Any] | None = None,
        quick: Mapping[str, Any] | None = None,
        steady_state: bool = False,
    ) -> None:
        super().__init__(description=doc.strip().splitlines()[0])
        self.full = {"rounds": 1, "epochs": None, **(defaults or {})}
        self.quick = {**self.full, "rounds": 1, **(quick or {})}
        self.steady_state = steady_state

        def default(key: str) -> str:
            def shown(value: Any) -> str:
                return "the config's" if value is None else str(value)

            return f"default {shown(self.full[key])}; {shown(self.quick[key])} with --quick"

        self.add_argument("--cpus", default=cpus, help=f"taskset CPU list for the timed children ('' = "
                          f"no pinning; default {cpus!r})")  # fmt: skip
        self.add_argument("--rounds", "--runs", type=int, help=f"alternated rounds ({default('rounds')})")
        self.add_argument("--epochs", type=int, help=f"epochs per training ({default('epochs')})")
        self.add_argument("--quick", action="store_true", help="smoke run: the smallest settings")
        self.add_argument("--child", help=argparse.SUPPRESS)  # set when a benchmark runs itself as a child
        self.default = default  # for the flags a benchmark adds

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        parsed = super().parse_args(args, namespace)
        for key, value in (self.quick if parsed.quick else self.full).items():
            if getattr(parsed, key, None) is None:
                setattr(parsed, key, value)
        if self.steady_state and parsed.epochs is not None and parsed.epochs < 2:
            self.error("--epochs must be at least 2 (epochs 2..n are the steady state)")
        return parsed
