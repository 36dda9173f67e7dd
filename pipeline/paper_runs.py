"""The paper presets' runs in the tracking store: the latest sweep of each, as `PresetRun`s.

A sweep's parent run records its command-line overrides (`sweep.overrides`), which name the preset;
its children are the training runs. Kept apart from `pipeline.paper` so the figures need no store.
"""

from __future__ import annotations

import yaml

from pipeline import tracking
from pipeline.config import load_settings
from pipeline.paper import PresetRun, preset_of, row_of
from pipeline.params import compose_config


def latest_preset_runs() -> list[PresetRun]:
    """For each paper preset, the runs of its most recently started sweep (none if never run)."""
    settings = load_settings(yaml.safe_load(compose_config()))
    client = tracking.client_for(settings.tracking)
    experiment = client.get_experiment_by_name(settings.tracking.experiment)
    if experiment is None:
        return []
    parents = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{tracking.TAG_ROLE}` = 'sweep'",
        order_by=["attributes.start_time DESC"],
        max_results=1000,
    )
    found: dict[str, PresetRun] = {}
    for parent in parents:
        preset = preset_of(parent.data.params.get("sweep.overrides", ""))
        if preset is None or preset in found:
            continue
        children = tracking.child_runs(client, parent.info.run_id)
        rows = [row_of(preset, run.data.params, run.data.metrics, run.info.status) for run in children]
        end = parent.info.end_time
        seconds = None if end is None else (end - parent.info.start_time) / 1000.0
        found[preset] = PresetRun(preset, rows, seconds)
    return list(found.values())
