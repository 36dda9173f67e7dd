"""The comparison report from a synthetic MLflow sweep and a synthetic DVC layout (no training)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from matplotlib.image import imread
from mlflow import MlflowClient
from scipy import stats as scipy_stats

from pipeline.core.config import Settings, load_settings
from pipeline.core.errors import UserError
from pipeline.core.layout import item_files
from pipeline.core.params import compose_config
from pipeline.reporting.collect import REQUIRED, RunResult, collect_dvc, collect_mlflow, latest_sweep
from pipeline.reporting.comparison import build_report, markdown_table, report_from_mlflow, write_report
from pipeline.reporting.dvc_summary import per_class_accuracy, summary_metrics
from pipeline.reporting.stats import estimate
from pipeline.reporting.summary import mean_history, pooled_reliability, summarize
from pipeline.tracking.store import Store
from pipeline.tracking.tags import TAG_ENV_PREFIX, TAG_ROLE, TAG_SWEEP

# Per (rate, seed): test accuracy and train accuracy (dropout off); the rest derives from these.
RUNS = {(0.0, 1): (0.90, 1.00), (0.0, 2): (0.92, 0.99), (0.5, 1): (0.95, 0.97), (0.5, 2): (0.96, 0.97)}
RELIABILITY = pd.DataFrame(
    {"lower": [0.0, 0.5], "upper": [0.5, 1.0], "confidence": [np.nan, 0.9], "accuracy": [np.nan, 0.8],
     "count": [0, 10]}
)  # fmt: skip


def _eval_metrics(test_acc: float, train_acc: float) -> dict[str, float]:
    return {
        "train_accuracy": train_acc,
        "test_accuracy": test_acc,
        "overfit_gap": train_acc - test_acc,
        "best_epoch": 2,
        "val_loss_rise": 0.1,
        "test_ece": 0.02,
        "test_nll": 0.3,
        "test_loss": 0.3,
        "mc_samples": 0,
    }


def _history(rate: float) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "loss": [0.8, 0.4, 0.2 + rate],
            "accuracy": [0.7, 0.9, 0.95],
            "val_loss": [0.6, 0.5, 0.6],
            "val_accuracy": [0.8, 0.85, 0.84],
        }
    )


@pytest.fixture
def store(mlflow_store: str) -> MlflowClient:
    """A client of the test's own MLflow store (experiment `test`), to make runs with."""
    return MlflowClient(mlflow_store)


@pytest.fixture
def tracked(mlflow_store: str) -> Store:
    """The same store as the report's code sees it."""
    return Store(mlflow_store)


def _settings(*overrides: str) -> Settings:
    return load_settings(yaml.safe_load(compose_config(["tracking.experiment=test", *overrides])))


def _child(client: MlflowClient, exp: str, parent: str, rate: float, seed: int, ok: bool = True) -> str:
    tags = {"mlflow.parentRunId": parent, TAG_ROLE: "train"}
    run_id = client.create_run(exp, tags=tags).info.run_id
    for key, value in {"model.dropout.rate": rate, "train.seed": seed, "data.train_size": None}.items():
        client.log_param(run_id, key, str(value))
    if not ok:  # crashed in its first epoch: params, but no metrics
        client.set_terminated(run_id, "FAILED")
        return run_id
    for _, row in _history(rate).iterrows():
        for key in ["loss", "accuracy", "val_loss", "val_accuracy"]:
            client.log_metric(run_id, key, row[key], step=int(row["epoch"]))
    for key, value in _eval_metrics(*RUNS[(rate, seed)]).items():
        client.log_metric(run_id, key, value)
    client.log_text(run_id, RELIABILITY.to_csv(index=False), "eval/reliability.csv")
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _sweep(client: MlflowClient, sweep_id: str = "abcd1234") -> tuple[str, str]:
    """Parent + 2 rates x 2 seeds + one FAILED child without metrics; return (parent, failed) ids."""
    exp = client.get_experiment_by_name("test").experiment_id
    tags = {TAG_ROLE: "sweep", TAG_SWEEP: sweep_id}
    parent = client.create_run(exp, tags=tags).info.run_id
    for rate, seed in RUNS:
        _child(client, exp, parent, rate, seed)
    failed = _child(client, exp, parent, 0.5, 3, ok=False)
    return parent, failed


def test_mlflow_sweep_gives_one_row_per_rate_with_counts_and_mean_std(store, tracked):
    parent, failed = _sweep(store)
    summary = summarize(collect_mlflow(tracked, parent_run_id=parent))

    assert [(row["rate"], row["n"]) for row in summary.rows] == [(0.0, 2), (0.5, 2)]
    rate0 = summary.rows[0]
    assert rate0["test_accuracy_mean"] == pytest.approx(0.91)
    assert rate0["test_accuracy_std"] == pytest.approx(np.std([0.90, 0.92], ddof=1))
    interval = scipy_stats.ttest_1samp([0.90, 0.92], 0.0).confidence_interval(0.95)
    assert (rate0["test_accuracy_low"], rate0["test_accuracy_high"]) == (
        pytest.approx(interval.low),
        pytest.approx(interval.high),
    )
    assert rate0["overfit_gap_mean"] == pytest.approx(np.mean([0.10, 0.07]))
    assert rate0["val_accuracy_mean"] == pytest.approx(0.84)  # final epoch of the history
    assert rate0["seeds"] == [1, 2]
    assert [run.name for run in summary.incomplete] == [failed]
    assert summary.incomplete[0].status == "FAILED"
    assert summary.incomplete[0].missing == list(REQUIRED)


def test_mlflow_histories_are_read_per_epoch_and_averaged_per_rate(store, tracked):
    parent, _ = _sweep(store)
    summary = summarize(collect_mlflow(tracked, parent_run_id=parent))
    assert set(summary.histories) == {"rate 0", "rate 0.5"}
    history = summary.histories["rate 0.5"]
    assert history["epoch"].tolist() == [1, 2, 3]
    assert history["loss"].tolist() == pytest.approx([0.8, 0.4, 0.7])
    assert summary.reliability["rate 0"].count.tolist() == [0, 20]  # two seeds pooled


def test_build_report_writes_files_and_logs_them_to_the_parent(store, tmp_path):
    parent, failed = _sweep(store)
    out = tmp_path / "report"
    report = build_report(_settings(f"report.out_dir={out}"), parent)

    text = report.read_text()
    assert "probability of DROPPING a unit" in text
    half = scipy_stats.t.ppf(0.975, 1) * np.std([1.00, 0.99], ddof=1) / np.sqrt(2)
    assert f"| 0 | 2 | 0.9950 ± {half:.4f} |" in text  # rate, runs, train accuracy mean ± half-width
    assert f"| {failed} | 0.5 | 3 | FAILED |" in text
    for name in ["learning_curves.png", "gap_vs_rate.png", "reliability.png"]:
        assert f"]({name})" in text
        height, width, _ = imread(out / name).shape
        assert (
            height > 300 and width > 500 and (out / name).stat().st_size > 8_000
        )  # a drawn figure, not an empty canvas (palette PNG)
    logged = {a.path for a in store.list_artifacts(parent, "report")}
    assert {"report/comparison.md", "report/comparison.json", "report/learning_curves.png"} <= logged
    saved = json.loads((out / "comparison.json").read_text())
    assert [row["n"] for row in saved["rows"]] == [2, 2]
    # Rate 0.5 against rate 0 on seeds 1 and 2: test accuracy +0.05 and +0.04, paired.
    accuracy = next(p for p in saved["paired"] if p["metric"] == "test_accuracy")
    assert (accuracy["rate"], accuracy["seeds"], accuracy["difference"]) == (
        0.5,
        [1, 2],
        pytest.approx(0.045),
    )
    assert accuracy["p_value"] == pytest.approx(scipy_stats.ttest_rel([0.95, 0.96], [0.90, 0.92]).pvalue)
    assert saved["incomplete"][0]["status"] == "FAILED"


def test_default_source_is_the_latest_sweep(store, tmp_path, tracked):
    _sweep(store, "old00000")
    newest, _ = _sweep(store, "new11111")
    assert latest_sweep(tracked, "test") == newest
    report = report_from_mlflow(_settings(f"report.out_dir={tmp_path / 'r'}"))
    assert f"parent run `{newest}`" in report.read_text()


def test_experiment_source_takes_every_training_run_but_no_parent(store, tracked):
    _sweep(store, "s1")
    _sweep(store, "s2")
    results = collect_mlflow(tracked, experiment="test")
    assert len(results) == 10  # 2 sweeps x 5 children; the parents are not training runs


def test_an_unknown_parent_run_is_a_user_error(store, tracked):
    with pytest.raises(UserError, match="no MLflow run 'nope'"):
        collect_mlflow(tracked, parent_run_id="nope")


def test_no_sweep_is_a_user_error_with_the_command_that_makes_one(store, tracked):
    with pytest.raises(UserError, match=r"python -m pipeline\.train -m"):
        latest_sweep(tracked, "test")


def _dvc_layout(root: Path, items: list[tuple[float, int]]) -> None:
    """The files the DVC matrix items (rate, seed) write; test accuracy 0.90 + seed / 100."""
    for rate, seed in items:
        files = item_files(rate, seed, root)
        train = {"loss": 0.2, "accuracy": 0.95, "val_loss": 0.3, "val_accuracy": 0.9 + rate / 10}
        files.train_metrics.parent.mkdir(parents=True, exist_ok=True)
        files.train_metrics.write_text(json.dumps(train))
        per_class = {"0": 0.8 + seed / 100, "1": 0.9 - rate / 10}
        evaluated = {**_eval_metrics(0.9 + seed / 100, 0.99), "per_class_accuracy": per_class}
        files.eval_metrics.parent.mkdir(parents=True, exist_ok=True)
        files.eval_metrics.write_text(json.dumps(evaluated))
        files.history.parent.mkdir(parents=True, exist_ok=True)
        _history(rate).to_csv(files.history, index=False)
        files.plots_dir.mkdir(parents=True, exist_ok=True)
        RELIABILITY.to_csv(files.plots_dir / "reliability.csv", index=False)


def test_dvc_outputs_give_one_row_per_swept_rate_over_its_seeds_and_flag_missing_items(tmp_path):
    # (0.9, 1) and seed 3: left over from an earlier sweep.rates and sweep.seeds
    _dvc_layout(tmp_path, [(0.0, 1), (0.0, 2), (0.2, 1), (0.2, 2), (0.2, 3), (0.9, 1), (0.5, 1)])
    results = collect_dvc(tmp_path, rates=[0.0, 0.2, 0.5], seeds=[1, 2], train_size=None)
    summary = summarize(results)

    assert [(row["rate"], row["n"], row["seeds"]) for row in summary.rows] == [
        (0.0, 2, [1, 2]), (0.2, 2, [1, 2]), (0.5, 1, [1]),
    ]  # fmt: skip
    assert summary.rows[1]["val_accuracy_mean"] == pytest.approx(0.92)
    assert summary.rows[1]["test_accuracy_mean"] == pytest.approx(0.915)
    assert summary.rows[1]["test_accuracy_low"] < 0.91 < 0.92 < summary.rows[1]["test_accuracy_high"]
    assert summary.rows[2]["test_accuracy_std"] is None  # one seed: no std
    assert [(r.name, r.status) for r in summary.incomplete] == [("rate_0.5_seed_2", "MISSING")]
    table = markdown_table(summary)
    assert "| 0.5 | 1 | 0.9900 | 0.9500 | 0.9100 |" in table
    assert [(effect.rate, effect.seeds) for effect in summary.effects] == [(0.2, (1, 2)), (0.5, (1,))]


def test_dvc_report_writes_markdown_json_csv_and_pngs(tmp_path):
    _dvc_layout(tmp_path, [(0.0, 42), (0.5, 42)])
    summary = summarize(collect_dvc(tmp_path, rates=[0.0, 0.5], seeds=[42]))
    report = write_report(summary, tmp_path / "reports", "DVC")
    names = {p.name for p in report.parent.iterdir()}
    assert names == {
        "comparison.md", "comparison.json", "learning_curves.csv",
        "learning_curves.png", "gap_vs_rate.png", "reliability.png",
    }  # fmt: skip
    curves = pd.read_csv(report.parent / "learning_curves.csv")
    assert set(curves["series"]) == {"rate 0", "rate 0.5"}
    assert set(curves["split"]) == {"train", "validation"}
    assert len(curves) == 2 * 2 * 3  # series x split x epochs


def test_dvc_summary_gives_each_rate_mean_and_interval_bounds_of_the_headline_numbers(tmp_path):
    _dvc_layout(tmp_path, [(0.0, 1), (0.0, 2), (0.0, 3), (0.5, 1)])
    results = collect_dvc(tmp_path, rates=[0.0, 0.5], seeds=[1, 2, 3])
    metrics = summary_metrics(summarize(results))

    assert set(metrics) == {"rate_0.0", "rate_0.5"}
    assert set(metrics["rate_0.0"]) == {"test_accuracy", "test_nll", "val_loss_rise_rel"}
    accuracy = metrics["rate_0.0"]["test_accuracy"]
    found = estimate([0.91, 0.92, 0.93])  # the statistics of the report, rounded as the runs' metrics
    assert accuracy == {
        "mean": round(found.mean, 6),
        "low": round(found.low, 6),
        "high": round(found.high, 6),
    }
    assert metrics["rate_0.5"]["test_accuracy"] == {"mean": 0.91, "low": None, "high": None}  # one seed
    assert metrics["rate_0.0"]["val_loss_rise_rel"]["mean"] == pytest.approx(0.2)  # 0.5 -> 0.6

    evaluations = {0.0: [item_files(0.0, s, tmp_path).eval_metrics for s in (1, 2, 3)],
                   0.5: [item_files(0.5, 1, tmp_path).eval_metrics]}  # fmt: skip
    table = per_class_accuracy(evaluations)
    assert table.to_dict("records") == [
        {"class": "0", "series": "rate 0", "accuracy": pytest.approx(0.82)},
        {"class": "1", "series": "rate 0", "accuracy": pytest.approx(0.9)},
        {"class": "0", "series": "rate 0.5", "accuracy": pytest.approx(0.81)},
        {"class": "1", "series": "rate 0.5", "accuracy": pytest.approx(0.85)},
    ]


def _result(rate: float, size: int | None, seed: int, **extra: float) -> RunResult:
    return RunResult(f"r{rate}-{size}-{seed}", rate, seed, size, "FINISHED",
                     {**_eval_metrics(0.9, 0.99), "val_accuracy": 0.9, **extra})  # fmt: skip


def test_rows_split_by_train_size_when_it_varies():
    results = [_result(0.5, None, 1), _result(0.5, 500, 1), _result(0.5, 500, 2)]
    summary = summarize(results)
    assert summary.varies_train_size
    assert [(r["train_size"], r["n"]) for r in summary.rows] == [(None, 1), (500, 2)]
    assert "| dropout rate | train size | runs |" in markdown_table(summary)


def test_a_metric_only_some_runs_have_is_not_averaged():
    summary = summarize([_result(0.5, None, 1, mc_accuracy=0.95), _result(0.5, None, 2)])
    assert summary.rows[0]["mc_accuracy_mean"] is None
    assert not summary.has_mc


def test_a_running_run_is_incomplete_even_with_metrics():
    running = RunResult("x", 0.2, 1, None, "RUNNING", _result(0.2, None, 1).metrics)
    summary = summarize([running])
    assert summary.rows[0]["n"] == 0 and summary.incomplete == [running]


def test_pooled_reliability_weights_bins_by_count():
    other = RELIABILITY.assign(confidence=[0.3, 0.7], accuracy=[0.0, 0.5], count=[5, 30])
    pooled = pooled_reliability([RELIABILITY, other])
    assert pooled.count.tolist() == [5, 40]
    assert pooled.confidence.tolist() == pytest.approx([0.3, (0.9 * 10 + 0.7 * 30) / 40])
    assert pooled.accuracy.tolist() == pytest.approx([0.0, (0.8 * 10 + 0.5 * 30) / 40])


def test_mean_history_of_runs_of_different_length():
    longer = pd.concat([_history(0.0), _history(0.0).tail(1).assign(epoch=4, loss=0.1)])
    mean = mean_history([_history(0.0), longer])
    assert mean["epoch"].tolist() == [1, 2, 3, 4]
    assert mean["loss"].tolist() == pytest.approx([0.8, 0.4, 0.2, 0.1])


def test_runs_from_different_environments_get_a_warning_naming_what_differs(store, tmp_path):
    parent, _ = _sweep(store)
    children = [run.info.run_id for run in store.search_runs(
        [store.get_run(parent).info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent}'")]  # fmt: skip
    for i, run_id in enumerate(children):
        store.set_tag(run_id, TAG_ENV_PREFIX + "lock", "samelock")
        store.set_tag(run_id, TAG_ENV_PREFIX + "isa", "avx2 fma avx512f" if i % 2 else "avx2 fma")
    text = build_report(_settings(f"report.out_dir={tmp_path / 'a'}"), parent).read_text()
    assert "Warning: these runs come from different environments" in text
    warning = text.split("## Finding")[0]
    assert "- isa: 'avx2 fma" in warning and "'avx2 fma avx512f'" in warning and "lock" not in warning

    for run_id in children:
        store.set_tag(run_id, TAG_ENV_PREFIX + "isa", "avx2 fma")
    assert (
        "different environments"
        not in build_report(_settings(f"report.out_dir={tmp_path / 'b'}"), parent).read_text()
    )


# ---------------------------------------------------------------- seeds: intervals and pairs


def _seeded(rate: float, seed: int, test_acc: float, rise: float, nll: float = 0.1) -> RunResult:
    """A complete run whose validation loss bottoms at 0.1 in epoch 2 and ends `rise` above it."""
    history = pd.DataFrame(
        {"epoch": [1, 2, 3], "loss": [0.5, 0.3, 0.2], "accuracy": [0.9, 0.95, 0.97],
         "val_loss": [0.2, 0.1, 0.1 * (1 + rise)], "val_accuracy": [0.9, 0.93, 0.93]}
    )  # fmt: skip
    metrics = {**_eval_metrics(test_acc, 0.99), "test_nll": nll, "val_accuracy": 0.93}
    return RunResult(f"r{rate}-s{seed}", rate, seed, None, "FINISHED", metrics, history)


def test_three_seeds_give_intervals_and_each_rate_is_paired_with_rate_0_by_seed(tmp_path):
    # Rate 0.5: the rise falls on every seed, accuracy falls on every seed; rate 0.2: accuracy noise.
    none = {1: (0.979, 0.55), 2: (0.978, 0.60), 3: (0.980, 0.52)}
    results = [_seeded(0.0, s, acc, rise) for s, (acc, rise) in none.items()]
    results += [_seeded(0.5, s, acc - 0.006 + 0.0002 * s, 0.03 * s) for s, (acc, _) in none.items()]
    results += [_seeded(0.2, s, acc + [0.001, -0.002, 0.0005][s - 1], 0.2) for s, (acc, _) in none.items()]
    report = write_report(summarize(results), tmp_path, "constructed")
    text, saved = report.read_text(), json.loads((tmp_path / "comparison.json").read_text())

    pairs = {(p["rate"], p["metric"]): p for p in saved["paired"]}
    accuracy = pairs[(0.5, "test_accuracy")]
    expected = scipy_stats.ttest_rel([0.9732, 0.9724, 0.9746], [0.979, 0.978, 0.980])
    assert accuracy["seeds"] == [1, 2, 3] and accuracy["n"] == 3
    assert accuracy["p_value"] == pytest.approx(expected.pvalue)
    assert (accuracy["low"], accuracy["high"]) == (
        pytest.approx(expected.confidence_interval(0.95).low),
        pytest.approx(expected.confidence_interval(0.95).high),
    )
    assert accuracy["high"] < 0  # found, with its sign: dropout 0.5 costs accuracy
    assert pairs[(0.5, "val_loss_rise_rel")]["high"] < 0  # and overfits less
    noise = pairs[(0.2, "test_accuracy")]
    assert noise["low"] < 0 < noise["high"]  # inside the seed spread

    assert "| 0.5 | test accuracy | 3 | -0.56 points |" in text and "| yes: lower |" in text
    assert "| 0.2 | test accuracy | 3 | -0.02 points |" in text
    assert "In short: less overfitting, at a cost in test accuracy." in text
    assert "test accuracy not distinguishable from rate 0's" in text
    row = next(r for r in saved["rows"] if r["rate"] == 0.0)
    assert row["n"] == 3 and row["test_accuracy_low"] < 0.979 < row["test_accuracy_high"]
    assert saved["finding"]["curves"][0]["rise_mean"] == pytest.approx(np.mean([0.55, 0.60, 0.52]))
    assert "nan" not in text.lower() and "NaN" not in (tmp_path / "comparison.json").read_text()


def test_one_seed_per_rate_reports_differences_without_intervals_or_nans(tmp_path):
    results = [_seeded(0.0, 42, 0.9766, 0.52), _seeded(0.5, 42, 0.9726, 0.0)]
    summary = summarize(results)
    report = write_report(summary, tmp_path, "one seed")
    text, raw = report.read_text(), (tmp_path / "comparison.json").read_text()
    assert "| 0.5 | test accuracy | 1 | -0.40 points | — | — | cannot tell (one seed) |" in text
    assert "One seed gives no interval and no test" in text
    assert "| 0.5 | 1 | 0.9900 | 0.9300 | 0.9726 |" in markdown_table(summary)
    assert "±" not in markdown_table(summary)
    assert "nan" not in text.lower() and "NaN" not in raw
    accuracy = next(p for p in json.loads(raw)["paired"] if p["metric"] == "test_accuracy")
    assert (accuracy["n"], accuracy["low"], accuracy["high"], accuracy["p_value"]) == (1, None, None, None)


def test_a_rate_without_a_rate_0_partner_is_said_to_have_none(tmp_path):
    results = [_seeded(0.0, 1, 0.979, 0.5), _seeded(0.0, 2, 0.978, 0.6), _seeded(0.5, 3, 0.973, 0.0)]
    text = write_report(summarize(results), tmp_path, "unpaired").read_text()
    assert "- rate 0.5: no seed in common with rate 0, so no paired comparison." in text
    assert "| 0.5 | test accuracy | 0 | no seed in common | — | — | — |" in text

    only_dropout = [_seeded(0.2, 1, 0.979, 0.3), _seeded(0.5, 1, 0.973, 0.0)]
    text = write_report(summarize(only_dropout), tmp_path / "b", "no rate 0").read_text()
    assert "No run without dropout (rate 0) here, so no paired comparison of dropout against none." in text


def test_learning_curves_keep_the_range_over_seeds_for_the_band():
    mean = mean_history([_history(0.0), _history(0.5), _history(0.2)])
    assert mean["loss"].tolist() == pytest.approx([0.8, 0.4, (0.2 + 0.7 + 0.4) / 3])
    assert mean["loss_min"].tolist() == pytest.approx([0.8, 0.4, 0.2])
    assert mean["loss_max"].tolist() == pytest.approx([0.8, 0.4, 0.7])


def _arm(rate: float, maps: float, seed: int, test_acc: float) -> RunResult:
    metrics = {**_eval_metrics(test_acc, 0.99), "val_accuracy": 0.9}
    dropout = {"model.dropout.input_rate": 0.0, "model.feature_dropout.rate": maps}
    return RunResult(f"{rate}-{maps}-{seed}", rate, seed, None, "FINISHED", metrics, _history(rate),
                     dropout=dropout)  # fmt: skip


def test_arms_that_share_a_rate_but_drop_elsewhere_are_compared_apart(tmp_path: Path):
    """The CNN's arms: no dropout, the dense head only, the head and the feature maps. Rates the runs
    share (the input rate here) name no group; the feature-map rate, which differs, does."""
    arms = [(0.0, 0.0, 0.80), (0.5, 0.0, 0.84), (0.5, 0.2, 0.86)]
    results = [_arm(rate, maps, seed, acc + seed / 100) for rate, maps, acc in arms for seed in (1, 2, 3)]
    summary = summarize(results)

    maps = "feature_dropout.rate"
    assert [(row["rate"], row["variant"], row["n"]) for row in summary.rows] == [
        (0.0, f"{maps} 0", 3), (0.5, f"{maps} 0", 3), (0.5, f"{maps} 0.2", 3),
    ]  # fmt: skip
    assert summary.baseline == "dropout.rate 0, feature_dropout.rate 0"
    assert [(e.label, e.baseline) for e in summary.effects] == [
        ("dropout.rate 0.5, feature_dropout.rate 0", summary.baseline),
        ("dropout.rate 0.5, feature_dropout.rate 0.2", summary.baseline),
    ]
    gains = [e.tests["test_accuracy"].difference.mean for e in summary.effects]
    assert gains == pytest.approx([0.04, 0.06])
    write_report(summary, tmp_path, "test")
    table = (tmp_path / "comparison.md").read_text()
    assert "| dropout rate | other dropout | runs |" in table
    assert "| 0.5 | feature_dropout.rate 0.2 | 3 |" in table


def test_runs_alike_in_their_other_rates_are_labelled_by_the_rate_alone():
    results = [_arm(rate, 0.0, seed, 0.9) for rate in (0.0, 0.5) for seed in (1, 2)]
    summary = summarize(results)
    assert [row.get("variant") for row in summary.rows] == [None, None]
    assert summary.baseline == "rate 0" and [e.label for e in summary.effects] == ["rate 0.5"]
