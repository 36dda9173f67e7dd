"""The report's finding is computed from the curves: who overfits, by how much, and when none do."""

from __future__ import annotations

import pandas as pd

from pipeline.reporting.finding import curve_facts, finding_markdown


def _history(val_loss: list[float], accuracy: float = 0.99, val_accuracy: float = 0.97) -> pd.DataFrame:
    n = len(val_loss)
    return pd.DataFrame(
        {
            "epoch": range(1, n + 1),
            "loss": [0.1] * n,
            "val_loss": val_loss,
            "accuracy": [accuracy] * n,
            "val_accuracy": [val_accuracy] * n,
        }
    )


def test_best_epoch_rise_and_gap_come_from_the_curve():
    facts = curve_facts("rate 0", _history([0.3, 0.1, 0.12, 0.15], accuracy=0.995, val_accuracy=0.975))
    assert (facts.best_epoch, facts.last_epoch) == (2, 4)
    assert facts.rise == (0.15 - 0.1) / 0.1
    assert facts.overfits
    assert round(facts.last_gap, 6) == 0.02


def test_no_dropout_overfitting_while_dropout_does_not_is_said():
    text = finding_markdown({"0": _history([0.3, 0.08, 0.1, 0.14]), "0.5": _history([0.4, 0.2, 0.12, 0.11])})
    assert "The net without dropout (0) overfits: its validation loss rises +75% after epoch 2" in text
    assert "0.5: validation loss lowest at the last epoch, 4 (0.1100)" in text
    assert "| 0 | 2 | 0.0800 | 0.1400 | +75.0% |" in text


def test_curves_that_still_fall_are_said_to_show_no_overfitting():
    text = finding_markdown({"0": _history([0.3, 0.2, 0.15]), "0.5": _history([0.4, 0.3, 0.2])})
    assert text.startswith("## Finding\n\nNo net overfits in these 3 epochs")


def test_a_dropout_rate_that_overfits_more_is_not_hidden():
    text = finding_markdown({"0": _history([0.2, 0.1, 0.11]), "0.2": _history([0.2, 0.1, 0.2])})
    assert "Overfitting (validation loss up 5% or more from its lowest): 0, 0.2." in text
