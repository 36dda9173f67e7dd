"""The DVC matrix's rules: DVC names a matrix item's outputs after the item's text, so the rates
in `sweep.rates` are written as decimals, and a stage names its outputs the way DVC does."""

from __future__ import annotations

from typing import Any


def written_as_decimal(value: Any) -> Any:
    """A rate of `sweep.rates` as YAML wrote it: an int (`0`) would make DVC write `rate_0`, while
    the stage names its outputs after the validated float (`rate_0.0`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            f"write it as a decimal ({value}.0): the DVC train matrix names its outputs after the rate's "
            "text (models/rate_${item.rate}), and a stage names them after the validated float"
        )
    return value


def matrix_label(rate: float) -> str:
    """`rate_<rate>` as DVC names a matrix item's outputs: `${item.rate}` of a YAML float is its
    Python text (0.0 -> `rate_0.0`, 0.50 -> `rate_0.5`)."""
    return f"rate_{float(rate)}"
