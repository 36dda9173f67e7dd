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

from bench.harness.fit import timed_fit
from bench.harness.session import Session, benchmark
from bench.harness.tables import Column, median, ratio_table, steady
from bench.harness.workspace import unpinned
from pipeline.core.numerics import PINS

ALL = "every pin (default)"
NONE = "no pin"
SETTINGS: dict[str, dict[str, str]] = {
    ALL: dict(PINS),
    NONE: {},
    **{f"only {key}={value}": {key: value} for key, value in PINS.items()},
}


def child(epochs: int, overrides: list[str]) -> dict[str, object]:
    """One training of the default config in this process's environment, timed per epoch."""
    fit = timed_fit([*overrides, f"train.epochs={epochs}"])
    return {
        "epoch_seconds": fit.epoch_seconds,
        "fit_seconds": fit.fit_seconds,
        "val_loss": float(fit.result.history["val_loss"].iloc[-1]),
    }


COLUMNS = [
    Column("steady s/epoch", lambda rs: median(steady(r) for r in rs), fmt=".2f"),
    Column("fit s", lambda rs: median(r["fit_seconds"] for r in rs), fmt=".1f"),
    Column("last val_loss", lambda rs: rs[-1]["val_loss"], fmt=".8f", versus=lambda n, d: ""),
]


@benchmark(
    __doc__,
    child=child,
    defaults={"rounds": 2, "epochs": 3},
    quick={"rounds": 1, "epochs": 2},
    steady_state=True,
)
def main(bench: Session) -> None:
    args, ws = bench.args, bench.workspace
    print(f"data: {ws.source}; {args.epochs} epochs, {args.rounds} rounds, alternated")
    spec = {"epochs": args.epochs, "overrides": ws.overrides}
    contenders = {
        name: lambda _, pins=pins: bench.child(spec, unpinned(ws.env(), pins))
        for name, pins in SETTINGS.items()
    }
    results = bench.alternate(contenders)
    print(ratio_table(results, COLUMNS, [(name, NONE) for name in SETTINGS if name != NONE], first="setting"))
    pinned = results[ALL][-1]["val_loss"]
    for name, rs in results.items():
        same = "equals" if rs[-1]["val_loss"] == pinned else "differs from"
        print(f"{name}: last val_loss {same} the pinned run's")


if __name__ == "__main__":
    main()
