"""What each numeric pin costs: the project's training under each pin setting, alternated.

    python -m bench.pins [--rounds 2] [--epochs 3] [--cpus 0] [--quick]

The pins (`pipeline/core/numerics.py`) make the numbers independent of the CPU; this measures what
they cost in speed here. Each contender is a fresh process training the default config (full data)
with one setting: every pin (the project's default), none (each library's own choice), or one pin
alone. Reported: the steady epoch (median of epochs 2..n), the whole fit, and each setting's ratio to
the unpinned run. Also prints whether the last validation loss differs from the pinned run's (the
pins change the numbers on a CPU whose widest kernels differ from AVX2's).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.harness import (
    Column,
    Parser,
    Result,
    alternate,
    begin,
    emit,
    median,
    prepare_workspace,
    ratio_table,
    run_child,
    temp_root,
)
from pipeline.core.numerics import PINS, UNPINNED_ENV

ALL = "every pin (default)"
NONE = "no pin"
SETTINGS: dict[str, dict[str, str]] = {
    ALL: dict(PINS),
    NONE: {},
    **{f"only {key}={value}": {key: value} for key, value in PINS.items()},
}


def child(epochs: int) -> dict[str, object]:
    """One training of the default config in this process's environment, timed per epoch."""
    import time

    from bench.harness import settings_for
    from pipeline.core.paths import project_path
    from pipeline.data.build import load_for
    from pipeline.training.loop import build_and_fit

    settings = settings_for([f"train.epochs={epochs}", "train.progress=false"])
    data = load_for(settings.data, project_path())
    seconds: list[float] = []
    start = time.perf_counter()
    result = build_and_fit(settings, data, [lambda row, took: seconds.append(took)])
    fit = time.perf_counter() - start
    return {
        "epoch_seconds": seconds,
        "fit_seconds": fit,
        "val_loss": float(result.history["val_loss"].iloc[-1]),
    }


def steady(result: Result) -> float:
    return median(result["epoch_seconds"][1:])


COLUMNS = [
    Column("steady s/epoch", lambda rs: median(steady(r) for r in rs), fmt=".2f"),
    Column("fit s", lambda rs: median(r["fit_seconds"] for r in rs), fmt=".1f"),
    Column("last val_loss", lambda rs: rs[-1]["val_loss"], fmt=".8f", versus=lambda n, d: ""),
]


def main() -> None:
    parser = Parser(__doc__, defaults={"rounds": 2, "epochs": 3}, quick={"rounds": 1, "epochs": 2})
    args = parser.parse_args()
    if args.child:
        emit(child(json.loads(args.child)["epochs"]))
        return
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (epochs 2..n are the steady state)")
    begin("pins", args.cpus)
    with temp_root("pins") as tmp:
        ws = prepare_workspace(Path(tmp))
        print(f"data: {ws.source}; {args.epochs} epochs, {args.rounds} rounds, alternated")

        def setting(name: str):
            env = {k: v for k, v in ws.env().items() if k not in PINS} | {UNPINNED_ENV: "1"} | SETTINGS[name]

            def measure(round_: int) -> Result:
                argv = [sys.executable, "-m", "bench.pins", "--child", json.dumps({"epochs": args.epochs})]
                return run_child(argv, env, ws.root, args.cpus)

            return measure

        results = alternate({name: setting(name) for name in SETTINGS}, range(1, args.rounds + 1))
    print(ratio_table(results, COLUMNS, [(name, NONE) for name in SETTINGS if name != NONE], first="setting"))
    pinned = results[ALL][-1]["val_loss"]
    for name, rs in results.items():
        same = "equals" if rs[-1]["val_loss"] == pinned else "differs from"
        print(f"{name}: last val_loss {same} the pinned run's")


if __name__ == "__main__":
    main()
