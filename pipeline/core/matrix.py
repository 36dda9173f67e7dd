"""The DVC pipeline's rules: DVC names a matrix item's outputs after the item's text, so the rates
in `sweep.rates` are written as decimals and the seeds in `sweep.seeds` as whole numbers, and a
stage names its outputs the way DVC does; a data stage run by hand never rewrites what DVC made
from other params."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from pipeline.core.errors import ConfigError

if TYPE_CHECKING:
    from pipeline.core.config import Settings


def written_as_decimal(value: Any) -> Any:
    """A rate of `sweep.rates` as YAML wrote it: an int (`0`) would make DVC write `rate_0`, while
    the stage names its outputs after the validated float (`rate_0.0`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            f"write it as a decimal ({value}.0): the DVC train matrix names its outputs after the rate's "
            "text (models/rate_${item.rate}), and a stage names them after the validated float"
        )
    return value


def written_as_integer(value: Any) -> Any:
    """A seed of `sweep.seeds` as YAML wrote it: `42.0` or `'042'` would make DVC write `seed_42.0`
    or `seed_042`, while the stage names its outputs after the validated int (`seed_42`)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(
            "write it as a whole number (42): the DVC matrix names its outputs after the seed's text "
            "(seed_${item.seed}), and a stage names them after the validated int"
        )
    return value


def matrix_label(rate: float, seed: int) -> str:
    """`rate_<rate>_seed_<seed>` as DVC names a matrix item's outputs: `${item.rate}` of a YAML float
    is its Python text (0.0 -> `rate_0.0`, 0.50 -> `rate_0.5`), `${item.seed}` of an int its digits."""
    return f"rate_{float(rate)}_seed_{int(seed)}"


def matrix_item(rate: float, seed: int) -> str:
    """The stage-name suffix DVC gives that item (`train@0.5-42`): its values joined by `-`."""
    return f"{float(rate)}-{int(seed)}"


def refuse_to_rewrite_dvc_outputs(
    stage: str, settings: Settings, root: Path, trained_on: bool = False
) -> None:
    """Raise `ConfigError` when this run of DVC stage `stage`, started by hand, would write the
    outputs DVC made (`dvc.yaml` at `root`) from settings other than `params.yaml`'s: the committed
    results would silently change, and `dvc status` with them. Other outputs (another dataset's
    files, say) and a project without a DVC pipeline pass. `trained_on`: a training builds such
    data itself, and the message says so."""
    dvc_file, params_file = root / "dvc.yaml", root / "params.yaml"
    if not (dvc_file.is_file() and params_file.is_file()):
        return
    spec = (yaml.safe_load(dvc_file.read_text()) or {}).get("stages", {}).get(stage)
    if spec is None:
        return
    ours, dvcs = settings.model_dump(), yaml.safe_load(params_file.read_text()) or {}
    outputs = _paths(spec.get("outs", []), ours) & _paths(spec.get("outs", []), dvcs)
    changed = [leaf for key in spec.get("params", []) for leaf in _differing(ours, dvcs, key)]
    if not (outputs and changed):
        return
    asked = " ".join(f"{key}={_shown(_lookup(ours, key))}" for key in changed)
    written = ", ".join(f"{key}={_shown(_lookup(dvcs, key))}" for key in changed)
    raise ConfigError(
        f"{asked}: `python -m pipeline.{stage}` would rewrite {', '.join(sorted(outputs))}, outputs of "
        f"the DVC pipeline made with params.yaml's {written}. As a DVC experiment: dvc exp run "
        + " ".join(f"-S {key}={_shown(_lookup(ours, key))}" for key in changed)
        + (f"; a training builds such data itself: python -m pipeline.train {asked}" if trained_on else "")
    )


def _differing(ours: Any, theirs: Any, key: str) -> list[str]:
    """The dotted keys under `key` (itself, or its leaves for a mapping) whose values differ."""
    mine, other = _lookup(ours, key), _lookup(theirs, key)
    if isinstance(mine, Mapping) and isinstance(other, Mapping):
        return [leaf for sub in sorted({*mine, *other}) for leaf in _differing(ours, theirs, f"{key}.{sub}")]
    return [key] if mine != other else []


def _lookup(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        tree = tree.get(part) if isinstance(tree, Mapping) else None
    return tree


def _paths(outs: list[Any], values: Mapping[str, Any]) -> set[str]:
    """dvc.yaml's output paths (`data/processed/${data.name}.npz`) with these values filled in."""
    names = [out if isinstance(out, str) else next(iter(out)) for out in outs]
    return {re.sub(r"\$\{([\w.]+)\}", lambda m: str(_lookup(values, m.group(1))), name) for name in names}


def _shown(value: Any) -> str:
    """A value as a Hydra or DVC override writes it (`null`, `5000`, `{file: a, md5: b}`)."""
    return str(yaml.safe_dump(value, default_flow_style=True, width=1000)).removesuffix("\n...\n").strip()
