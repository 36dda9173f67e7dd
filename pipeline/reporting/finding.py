"""The finding a comparison opens with, computed from the learning curves, never written by hand:
where each net's validation loss bottoms, how far it rises after, and the train-validation gap at
the end; said plainly when no net overfits.

Plain pandas over mean learning curves (one `DataFrame` per rate, columns of the training history).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

# A validation loss that ends this far (relative) above its lowest counts as overfitting.
OVERFIT_RISE = 0.05


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

    @property
    def overfits(self) -> bool:
        return self.rise >= OVERFIT_RISE


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


def _curve_sentence(facts: CurveFacts) -> str:
    if facts.best_epoch == facts.last_epoch:
        last = f"{facts.last_epoch} ({facts.last_val_loss:.4f})"
        return f"{facts.label}: validation loss lowest at the last epoch, {last}"
    return (
        f"{facts.label}: validation loss lowest at epoch {facts.best_epoch} ({facts.best_val_loss:.4f}), "
        f"then {facts.rise:+.0%} by epoch {facts.last_epoch}"
    )


def verdict(facts: list[CurveFacts]) -> str:
    """One sentence on what the curves show, from the numbers alone."""
    if not any(f.overfits for f in facts):
        return (
            f"No net overfits in these {max(f.last_epoch for f in facts)} epochs: every validation loss "
            f"ends within {OVERFIT_RISE:.0%} of its lowest (train longer to see overfitting)."
        )
    baseline, others = facts[0], facts[1:]
    overfitting = ", ".join(f.label for f in facts if f.overfits)
    if baseline.overfits and others and all(f.rise < baseline.rise for f in others):
        return (
            f"The net without dropout ({baseline.label}) overfits: its validation loss rises "
            f"{baseline.rise:+.0%} after epoch {baseline.best_epoch}; every dropout rate rises less."
        )
    return f"Overfitting (validation loss up {OVERFIT_RISE:.0%} or more from its lowest): {overfitting}."


def finding_markdown(histories: Mapping[str, pd.DataFrame]) -> str:
    """The report's opening section: the verdict, a sentence per curve, and a table of best-epoch
    (early stopping) against last-epoch numbers. `histories` is ordered by rate, lowest first."""
    facts = [curve_facts(label, history) for label, history in histories.items()]
    if not facts:
        return "## Finding\n\nNo learning curves to read.\n"
    rows = [
        "| curve | best epoch | val loss (best) | val loss (last) | rise after best | "
        "val acc (best) | val acc (last) | train - val acc (last) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in facts:
        rows.append(
            f"| {f.label} | {f.best_epoch} | {f.best_val_loss:.4f} | {f.last_val_loss:.4f} | {f.rise:+.1%} | "
            f"{f.best_val_accuracy:.4f} | {f.last_val_accuracy:.4f} | {f.last_gap:+.4f} |"
        )
    sentences = "\n".join(f"- {_curve_sentence(f)}" for f in facts)
    return f"## Finding\n\n{verdict(facts)}\n\n{sentences}\n\n" + "\n".join(rows) + "\n"
