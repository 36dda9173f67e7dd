"""The report's finding is computed from the runs: who overfits, by how much (with its interval over
seeds), what each dropout rate changes against none, and when none overfit."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.reporting.finding import RISE, Effect, curve_facts, effect_sentence, finding_markdown
from pipeline.reporting.stats import paired


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


def _curves(**curves: list[list[float]]) -> dict:
    """Curve facts per label, one per validation-loss curve given (one per seed)."""
    return {label: [curve_facts(label, _history(val)) for val in vals] for label, vals in curves.items()}


def test_best_epoch_rise_and_gap_come_from_the_curve():
    facts = curve_facts("rate 0", _history([0.3, 0.1, 0.12, 0.15], accuracy=0.995, val_accuracy=0.975))
    assert (facts.best_epoch, facts.last_epoch) == (2, 4)
    assert facts.rise == (0.15 - 0.1) / 0.1
    assert round(facts.last_gap, 6) == 0.02


def test_no_dropout_overfitting_while_dropout_does_not_is_said_for_one_seed_without_an_interval():
    curves = {"0": [curve_facts("0", _history([0.3, 0.08, 0.1, 0.14]))],
              "0.5": [curve_facts("0.5", _history([0.4, 0.2, 0.12, 0.11]))]}  # fmt: skip
    text = finding_markdown(curves, baseline="0")
    assert (
        "The net without dropout (0) overfits: its validation loss rises +75% after its lowest, at epoch 2 "
        "(one seed: no interval); every dropout rate rises less." in text
    )
    assert "| 0 | 1 | 2.0 | 0.0800 | 0.1400 | +75.0% |" in text
    assert "| 0.5 | 1 | 4.0 | 0.1100 | 0.1100 | +0.0% |" in text
    assert "±" not in text and "nan" not in text


def test_over_seeds_the_rise_is_the_mean_of_each_seeds_rise_with_its_interval():
    # Rises of +50%, +75% and +100% over three seeds: mean +75%, t-interval 75 ± 4.30 * 25 / sqrt(3).
    curves = _curves(**{"rate 0": [[0.3, 0.1, 0.15], [0.3, 0.08, 0.14], [0.3, 0.1, 0.2]]})
    text = finding_markdown(curves, baseline="rate 0")
    assert "rises +75% (95% CI +13% to +137%) after its lowest, at epoch 2.0 on average over 3 seeds" in text
    assert "| rate 0 | 3 | 2.0 ± 0.0 |" in text and "+75.0% ± 62.1% |" in text
    assert "± = half-width of the 95% t-interval over seeds" in text


def test_curves_that_still_fall_are_said_to_show_no_overfitting():
    text = finding_markdown(_curves(**{"0": [[0.3, 0.2, 0.15]], "0.5": [[0.4, 0.3, 0.2]]}), baseline="0")
    assert text.startswith("## Finding\n\nNo net overfits in these 3 epochs")


def test_a_dropout_rate_that_overfits_more_is_not_hidden():
    text = finding_markdown(_curves(**{"0": [[0.2, 0.1, 0.11]], "0.2": [[0.2, 0.1, 0.2]]}), baseline="0")
    assert "Overfitting (validation loss up 5% or more from its lowest): 0, 0.2." in text


def test_without_rate_0_no_net_is_called_the_one_without_dropout():
    text = finding_markdown(_curves(**{"rate 0.2": [[0.2, 0.1, 0.2]], "rate 0.5": [[0.2, 0.1, 0.11]]}))
    assert "without dropout (rate 0.2)" not in text
    assert "No run without dropout (rate 0) here, so no paired comparison of dropout against none." in text


def _effect(rise: tuple[dict, dict], accuracy: tuple[dict, dict], nll: tuple[dict, dict]) -> Effect:
    tests = {RISE: paired(*rise), "test_accuracy": paired(*accuracy), "test_nll": paired(*nll)}
    seeds = tuple(sorted(set(rise[0]) & set(rise[1])))
    return Effect("rate 0.5", "rate 0", 0.5, None, seeds, tests)


def test_both_directions_are_stated_with_their_intervals():
    # Less overfitting on every seed, and less accuracy on every seed: both found, with their signs.
    effect = _effect(
        ({1: 0.02, 2: 0.05, 3: 0.03}, {1: 0.55, 2: 0.60, 3: 0.52}),
        ({1: 0.9728, 2: 0.9731, 3: 0.9725}, {1: 0.9790, 2: 0.9793, 3: 0.9789}),
        ({1: 0.098, 2: 0.101, 3: 0.097}, {1: 0.097, 2: 0.103, 3: 0.096}),
    )
    text = effect_sentence(effect)
    assert text.startswith(
        "rate 0.5 against rate 0, paired on 3 seeds (1, 2, 3): validation-loss rise -52.3 points"
    )
    rise = effect.tests[RISE].difference
    assert f"(95% CI {100 * rise.low:+.1f} to {100 * rise.high:+.1f}, p = " in text
    assert "test accuracy -0.63 points (95% CI -0.66 to -0.60, p < 0.001);" in text
    # The NLL moves both ways over seeds: said plainly.
    assert "test NLL +0.0000 (95% CI " in text and "the interval does not exclude no difference" in text
    assert text.endswith("In short: less overfitting, at a cost in test accuracy.")


def test_an_accuracy_difference_inside_the_seed_spread_is_not_called_a_cost():
    effect = _effect(
        ({1: 0.02, 2: 0.05, 3: 0.03}, {1: 0.55, 2: 0.60, 3: 0.52}),
        ({1: 0.9790, 2: 0.9771, 3: 0.9779}, {1: 0.9772, 2: 0.9783, 3: 0.9788}),
        ({1: 0.08, 2: 0.081, 3: 0.079}, {1: 0.12, 2: 0.13, 3: 0.125}),
    )
    text = effect_sentence(effect)
    assert "test accuracy -0.01 points (95% CI" in text
    assert text.endswith("In short: less overfitting, test accuracy not distinguishable from rate 0's.")


def test_one_seed_gives_the_differences_and_says_they_cannot_be_told_from_the_spread():
    effect = _effect(({42: 0.0}, {42: 0.52}), ({42: 0.9726}, {42: 0.9766}), ({42: 0.0994}, {42: 0.1291}))
    text = effect_sentence(effect)
    assert text == (
        "rate 0.5 against rate 0 on one seed (42): validation-loss rise -52.0 points, test accuracy "
        "-0.40 points, test NLL -0.0297. One seed gives no interval and no test: these differences "
        "cannot be told from seed-to-seed spread."
    )


def test_a_rate_without_a_common_seed_says_there_is_no_pair():
    effect = _effect(
        ({3: 0.1}, {1: 0.5, 2: 0.6}), ({3: 0.97}, {1: 0.98, 2: 0.97}), ({3: 0.1}, {1: 0.1, 2: 0.1})
    )
    assert effect_sentence(effect) == "rate 0.5: no seed in common with rate 0, so no paired comparison."


@pytest.mark.parametrize("p, said", [(0.2149, "p = 0.21"), (0.0078, "p = 0.008"), (0.0004, "p < 0.001")])
def test_p_values_are_said_to_their_useful_digits(p: float, said: str):
    from pipeline.reporting.finding import p_text

    assert p_text(p) == said
