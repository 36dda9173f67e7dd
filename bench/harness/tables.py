"""What the benchmarks print: medians and other views of their contenders' results, the ratio table,
and the PASS/FAIL line of a target (printed, never asserted)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bench.harness.children import Result


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def steady(result: Result) -> float:
    """A training's steady-state epoch: the median of epochs 2..n (the first one includes tracing)."""
    return median(result["epoch_seconds"][1:])


def each(key: str, fmt: str = ".1f") -> Callable[[list[Result]], str]:
    """A column listing every round's `key` (for the table's 'per round' column)."""
    return lambda results: " ".join(f"{r[key]:{fmt}}" for r in results)


def median_of(key: str) -> Callable[[list[Result]], float]:
    return lambda results: median(r[key] for r in results)


def largest(key: str) -> Callable[[list[Result]], float]:
    return lambda results: max(r[key] for r in results)


def ratio(numerator: Any, denominator: Any) -> str:
    """How the ratio rows compare two cells: their quotient when both are numbers, else blank."""
    numbers = all(isinstance(x, int | float) for x in (numerator, denominator))
    return f"{numerator / denominator:.3f}" if numbers and denominator else ""


@dataclass(frozen=True)
class Column:
    """One column of a ratio table: `value` sums up a contender's measurements (a number, or text such
    as `each(...)`), `fmt` formats it, `versus` fills the ratio rows (default: the quotient)."""

    header: str
    value: Callable[[list[Result]], Any]
    fmt: str = ".1f"
    versus: Callable[[Any, Any], str] = ratio


def ratio_table(
    results: Mapping[str, list[Result]],
    columns: Sequence[Column],
    ratios: Sequence[tuple[str, str] | tuple[str, str, str]],
    labels: Mapping[str, str] | None = None,
    first: str = "contender",
    ratio_label: Callable[[str, str], str] = lambda n, d: f"ratio ({n})/({d})",
) -> str:
    """One row per contender (`labels[name]`, else its name), then one row per (numerator, denominator
    [, note]): 'ratio (b)/(a)[: note]' and each column's `versus` of the two."""
    labels = labels or {}
    cells = {name: [column.value(rs) for column in columns] for name, rs in results.items()}
    rows = [
        [labels.get(name, name), *(f"{v:{c.fmt}}" for c, v in zip(columns, values, strict=True))]
        for name, values in cells.items()
    ]
    for numerator, denominator, *note in ratios:
        label = ratio_label(numerator, denominator) + (f": {note[0]}" if note else "")
        pairs = zip(columns, cells[numerator], cells[denominator], strict=True)
        rows.append([label, *(c.versus(n, d) for c, n, d in pairs)])
    return table(rows, [first, *(c.header for c in columns)])


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """Rows as a plain text table (pandas does the layout)."""
    import pandas as pd

    return pd.DataFrame([list(map(str, row)) for row in rows], columns=list(header)).to_string(index=False)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def within(what: str, value: float, target: float, fmt: str = ".3f", unit: str = "") -> str:
    """'PASS  <what> = <value> (target <= <target>)', or FAIL: a figure against its upper bound."""
    return f"{verdict(value <= target)}  {what} = {value:{fmt}}{unit} (target <= {target}{unit})"
