"""The finding a comparison opens with, computed from the runs, never written by hand: where each
net's validation loss bottoms and how far it rises after (mean and 95% interval over seeds), and
what each dropout rate changes against none, paired by seed, in both directions: less overfitting,
and any accuracy it costs. Said plainly when no net overfits, and when an interval does not exclude
"no difference"; one seed gives differences without an interval, and says so.

Plain pandas over learning curves (one `DataFrame` per run, columns of the training history) and
`reporting.stats` over seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from pipeline.reporting.stats import Estimate, Paired, estimate

# A validation loss that ends this far (relative) above its lowest counts as overfitting.
OVERFIT_RISE = 0.05
# The per-run value of `CurveFacts.rise` among a run's numbers (its metrics carry the absolute rise).
RISE = "val_loss_rise_rel"


@dataclass(frozen=True)
class CurveFacts:
    """What one learning curve shows: early stopping's view (best epoch) and the last epoch's."""

    label: str
    best_epoch: int
    best_val_loss: float
    best_val_accuracy: float
    last_epoch: int
    last_val_loss: float
    last_val_accuracy: float
    last_gap: float  # train minus validation accuracy (train measured with dropout on)

    @property
    def rise(self) -> float:
        """How far the validation loss climbed after its lowest, relative to it."""
        return (self.last_val_loss - self.best_val_loss) / self.best_val_loss


def curve_facts(label: str, history: pd.DataFrame) -> CurveFacts:
    best = history.loc[history["val_loss"].idxmin()]
    last = history.iloc[-1]
    return CurveFacts(
        label=label,
        best_epoch=int(best["epoch"]),
        best_val_loss=float(best["val_loss"]),
        best_val_accuracy=float(best["val_accuracy"]),
        last_epoch=int(last["epoch"]),
        last_val_loss=float(last["val_loss"]),
        last_val_accuracy=float(last["val_accuracy"]),
        last_gap=float(last["accuracy"] - last["val_accuracy"]),
    )


# The finding's table: (CurveFacts attribute, header, format); `pct` = a signed percentage.
CURVE_COLUMNS = (
    ("best_epoch", "best epoch", ".1f"),
    ("best_val_loss", "val loss (best)", ".4f"),
    ("last_val_loss", "val loss (last)", ".4f"),
    ("rise", "rise after best", "pct"),
    ("best_val_accuracy", "val acc (best)", ".4f"),
    ("last_val_accuracy", "val acc (last)", ".4f"),
    ("last_gap", "train - val acc (last)", "+.4f"),
)


def curve_estimates(facts: Sequence[CurveFacts]) -> dict[str, Estimate]:
    """Mean and interval over the runs of one curve's label, per column of the finding's table."""
    return {name: estimate(getattr(f, name) for f in facts) for name, _, _ in CURVE_COLUMNS}


@dataclass(frozen=True)
class Measure:
    """How a paired difference is said: its name, a scale (100: fractions as percentage points)."""

    name: str
    scale: float
    unit: str
    digits: int

    def text(self, value: float) -> str:
        """Signed, in the measure's scale: `-0.63`; never `-0.00`."""
        number = round(value * self.scale, self.digits) + 0.0  # -0.0 + 0.0 is 0.0
        return f"{number:+.{self.digits}f}"


# What each dropout rate is compared with rate 0 on, in the finding's order.
PAIRED = {
    RISE: Measure("validation-loss rise", 100.0, " points", 1),
    "test_accuracy": Measure("test accuracy", 100.0, " points", 2),
    "test_nll": Measure("test NLL", 1.0, "", 4),
}


@dataclass(frozen=True)
class Effect:
    """One dropout rate (its curve label) against rate 0 of the same train size, per metric."""

    label: str
    baseline: str  # rate 0's label
    rate: float
    train_size: int | None
    seeds: tuple[int, ...]  # the seeds both ran (complete runs)
    tests: Mapping[str, Paired]  # keyed like PAIRED


def p_value_text(p: float) -> str:
    """A p-value to two significant digits or so: `0.21`, `0.008`, `< 0.001`."""
    return "< 0.001" if p < 0.001 else f"{p:.3f}" if p < 0.01 else f"{p:.2f}"


def p_text(p: float) -> str:
    value = p_value_text(p)
    return f"p {value}" if value.startswith("<") else f"p = {value}"


def pct_text(value: Estimate) -> str:
    """A relative change as a signed percentage, with its interval when it has one."""
    assert value.mean is not None
    if value.low is None or value.high is None:
        return f"{value.mean:+.0%}"
    return f"{value.mean:+.0%} (95% CI {value.low:+.0%} to {value.high:+.0%})"


def difference_text(key: str, test: Paired) -> str:
    """`test accuracy -0.63 points (95% CI -0.86 to -0.40, p = 0.004)`, saying so when the interval
    does not exclude no difference."""
    measure, found = PAIRED[key], test.difference
    assert found.mean is not None
    said = f"{measure.name} {measure.text(found.mean)}{measure.unit}"
    if found.low is None or found.high is None:
        return said
    interval = f"95% CI {measure.text(found.low)} to {measure.text(found.high)}"
    test_said = p_text(test.p_value) if test.p_value is not None else "the same on every seed, no test"
    verdict = "" if found.excludes_zero else ": the interval does not exclude no difference"
    return f"{said} ({interval}, {test_said}{verdict})"


def _direction(test: Paired | None, lower: str, higher: str, neither: str) -> str:
    if test is None or not test.difference.excludes_zero or test.difference.mean is None:
        return neither
    return lower if test.difference.mean < 0 else higher


def effect_sentence(effect: Effect) -> str:
    """What one dropout rate changes against rate 0, each difference with its interval and test."""
    baseline = effect.baseline
    said = [difference_text(key, effect.tests[key]) for key in PAIRED if effect.tests[key].n]
    if not said:
        return f"{effect.label}: no seed in common with {baseline}, so no paired comparison."
    if len(effect.seeds) == 1:
        return (
            f"{effect.label} against {baseline} on one seed ({effect.seeds[0]}): {', '.join(said)}. "
            "One seed gives no interval and no test: these differences cannot be told from "
            "seed-to-seed spread."
        )
    overfitting = _direction(
        effect.tests.get(RISE), "less overfitting", "more overfitting",
        f"overfitting not distinguishable from {baseline}'s",
    )  # fmt: skip
    accuracy = _direction(
        effect.tests.get("test_accuracy"), "at a cost in test accuracy", "with higher test accuracy",
        f"test accuracy not distinguishable from {baseline}'s",
    )  # fmt: skip
    seeds = ", ".join(str(seed) for seed in effect.seeds)
    return (
        f"{effect.label} against {baseline}, paired on {len(effect.seeds)} seeds ({seeds}): "
        f"{'; '.join(said)}. In short: {overfitting}, {accuracy}."
    )


def verdict(curves: Mapping[str, Sequence[CurveFacts]], baseline: str | None) -> str:
    """One sentence on what the curves show (mean rise over each label's runs, with its interval).

    `baseline` is the label of the net without dropout, if one was run."""
    rises = {label: estimate(f.rise for f in facts) for label, facts in curves.items() if facts}
    overfitting = [label for label, rise in rises.items() if (rise.mean or 0.0) >= OVERFIT_RISE]
    if not overfitting:
        epochs = max(f.last_epoch for facts in curves.values() for f in facts)
        return (
            f"No net overfits in these {epochs} epochs: every validation loss ends within "
            f"{OVERFIT_RISE:.0%} of its lowest (train longer to see overfitting)."
        )
    others = [rise.mean or 0.0 for label, rise in rises.items() if label != baseline]
    if baseline in overfitting and all(other < (rises[baseline].mean or 0.0) for other in others):
        best = estimate(f.best_epoch for f in curves[baseline])
        assert best.mean is not None
        runs = rises[baseline].n
        if runs == 1:
            when, less = f"epoch {best.mean:.0f} (one seed: no interval)", "less"
        else:
            when, less = f"epoch {best.mean:.1f} on average over {runs} seeds", "less on average"
        rest = f"; every dropout rate rises {less}" if others else ""
        return (
            f"The net without dropout ({baseline}) overfits: its validation loss rises "
            f"{pct_text(rises[baseline])} after its lowest, at {when}{rest}."
        )
    listed = ", ".join(overfitting)
    return f"Overfitting (validation loss up {OVERFIT_RISE:.0%} or more from its lowest): {listed}."


def effect_sentences(
    curves: Mapping[str, Sequence[CurveFacts]], effects: Sequence[Effect], baseline: str | None
) -> list[str]:
    """A sentence per dropout rate, or why there is none."""
    if effects:
        return [effect_sentence(effect) for effect in effects]
    if len(curves) > 1 and baseline is None:
        return ["No run without dropout (rate 0) here, so no paired comparison of dropout against none."]
    return []


def estimate_cell(value: Estimate, fmt: str) -> str:
    """`mean ± half-width of the 95% interval`, the mean alone for one run, — for none."""
    if value.mean is None:
        return "—"
    if fmt == "pct":
        mean = f"{value.mean:+.1%}"
        return mean if value.half_width is None else f"{mean} ± {value.half_width:.1%}"
    mean = f"{value.mean:{fmt}}"
    return mean if value.half_width is None else f"{mean} ± {value.half_width:{fmt.lstrip('+')}}"


def finding_markdown(
    curves: Mapping[str, Sequence[CurveFacts]],
    effects: Sequence[Effect] = (),
    baseline: str | None = None,
) -> str:
    """The report's opening section: the verdict, a sentence per dropout rate against none, and a
    table of best-epoch (early stopping) against last-epoch numbers per label. `curves` holds each
    label's runs, ordered by rate, lowest first; `baseline` is rate 0's label, if run."""
    curves = {label: facts for label, facts in curves.items() if facts}
    if not curves:
        return "## Finding\n\nNo learning curves to read.\n"
    head = ["curve", "runs", *(header for _, header, _ in CURVE_COLUMNS)]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, facts in curves.items():
        found = curve_estimates(facts)
        cells = [estimate_cell(found[name], fmt) for name, _, fmt in CURVE_COLUMNS]
        rows.append("| " + " | ".join([label, str(len(facts)), *cells]) + " |")
    parts = [f"## Finding\n\n{verdict(curves, baseline)}\n"]
    sentences = effect_sentences(curves, effects, baseline)
    if sentences:
        parts.append("".join(f"- {sentence}\n" for sentence in sentences))
    parts.append("\n".join(rows) + "\n")
    if any(len(facts) > 1 for facts in curves.values()):
        parts.append("± = half-width of the 95% t-interval over seeds.\n")
    return "\n".join(parts)
