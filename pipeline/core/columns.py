"""How a metric appears as a column of the comparison report: declared beside the metric itself,
by training (per-epoch metrics) and evaluation (test metrics) alike, so the report needs no list."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shown:
    """A column of the comparison report: its header, number format, and place among the columns
    (lower first; equal places keep the order of declaration)."""

    label: str
    fmt: str = ".4f"
    at: int = 100
