"""The config schema: every stage composes `conf/` with Hydra, then `load_settings` turns the result
into typed, validated `Settings` before any work starts, so a bad value fails at once with its key,
value and what is allowed (`pipeline.core.errors.ConfigError`).
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any, Literal

from omegaconf import DictConfig, OmegaConf
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from pipeline.core.errors import ConfigError
from pipeline.core.matrix import written_as_decimal, written_as_integer

Rate = Annotated[float, Field(ge=0.0, lt=1.0)]


# A rate and a seed of the DVC matrix: written as a YAML float and int, so DVC's `${item.rate}` and
# `${item.seed}` are `matrix_label`'s text.
MatrixRate = Annotated[Rate, BeforeValidator(written_as_decimal)]
MatrixSeed = Annotated[int, Field(ge=0), BeforeValidator(written_as_integer)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataFile(_Strict):
    file: str
    md5: Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]


class DataFiles(_Strict):
    train_images: DataFile
    train_labels: DataFile
    test_images: DataFile
    test_labels: DataFile


class DataConfig(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
    mirrors: list[str]
    files: DataFiles
    val_fraction: Annotated[float, Field(gt=0.0, lt=1.0)]
    train_size: Annotated[int, Field(gt=0)] | None
    seed: Annotated[int, Field(ge=0)]
    # The final fit once a recipe was chosen on validation: train on train + validation images.
    train_on_val: bool


class DropoutConfig(_Strict):
    rate: Rate
    impl: Literal["keras", "scratch"]
    input_rate: Rate


# Where `model.name` is looked up: a module of this package whose `Config` and `build_model` make
# the model (`pipeline.model.registry`). Named as text: the config layer knows where models live,
# never which ones there are.
MODEL_REGISTRY = "pipeline.model.registry"


def _registry() -> Any:
    return importlib.import_module(MODEL_REGISTRY)


class ModelConfig(_Strict):
    """The keys every model shares; a model's module subclasses it as `Config` with its own."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    hidden_units: Annotated[list[Annotated[int, Field(gt=0)]], Field(min_length=1)]
    activation: Literal["relu", "tanh", "sigmoid", "elu", "gelu", "selu"]
    dropout: DropoutConfig
    max_norm: Annotated[float, Field(gt=0.0)] | None

    @field_validator("name")
    @classmethod
    def _a_model(cls, name: str) -> str:
        known = _registry().names()
        if name not in known:
            raise ValueError(f"no such model; the models are {', '.join(known)} (modules of pipeline/model/)")
        return name


class TrainConfig(_Strict):
    epochs: Annotated[int, Field(gt=0)]
    batch_size: Annotated[int, Field(gt=0)]
    optimizer: Literal["adam", "sgd", "rmsprop", "adamw", "nadam"]
    learning_rate: Annotated[float, Field(gt=0.0)]
    seed: Annotated[int, Field(ge=0)]
    # SGD only (Keras' SGD is the optimizer with these knobs); 0 / false = plain SGD.
    momentum: Annotated[float, Field(ge=0.0, lt=1.0)]
    nesterov: bool
    lr_schedule: Literal["none", "exponential", "step"]
    lr_decay: Annotated[float, Field(gt=0.0, le=1.0)]
    lr_decay_epochs: Annotated[int, Field(gt=0)]
    early_stopping_patience: Annotated[int, Field(gt=0)] | None
    steps_per_execution: Annotated[int, Field(gt=0)]
    threads: Annotated[int, Field(ge=0)]
    progress: bool
    # An MLflow run id (32 hex digits) or `last`; None starts a new run.
    resume: Annotated[str, Field(pattern=r"^(last|[0-9a-f]{32})$")] | None

    @field_validator("momentum", "nesterov")
    @classmethod
    def _sgd_only(cls, value: float | bool, info: ValidationInfo) -> float | bool:
        optimizer = info.data.get("optimizer")
        if value and optimizer != "sgd":
            raise ValueError(f"applies to train.optimizer=sgd only, not {optimizer!r}; set it to 0/false")
        if info.field_name == "nesterov" and value and not info.data.get("momentum"):
            raise ValueError("Nesterov momentum needs train.momentum > 0")
        return value

    @field_validator("resume")
    @classmethod
    def _not_with_early_stopping(cls, resume: str | None, info: ValidationInfo) -> str | None:
        if resume and info.data.get("early_stopping_patience") is not None:
            raise ValueError(
                "cannot resume a run that stops early: the early-stopping state (best epoch, patience "
                "left) is not in the checkpoint, so the result would differ from an uninterrupted run"
            )
        return resume

    @field_validator("lr_decay")
    @classmethod
    def _decay_needs_a_schedule(cls, decay: float, info: ValidationInfo) -> float:
        if decay != 1.0 and info.data.get("lr_schedule") == "none":
            raise ValueError("has no effect with train.lr_schedule=none: choose exponential or step")
        return decay


class TrackingConfig(_Strict):
    uri: str | None
    experiment: Annotated[str, Field(min_length=1)]
    log_model: bool
    stale_after_s: Annotated[float, Field(gt=0)]
    # The conf/experiment/ preset that set it (its file name), None outside presets.
    preset: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")] | None = None
    # Off unless asked for (conf/tracking/default.yaml says so too): the model registry, and MLflow's
    # system metrics sampler.
    register_model: bool = False
    system_metrics: bool = False

    @field_validator("register_model")
    @classmethod
    def _registers_a_logged_model(cls, register: bool, info: ValidationInfo) -> bool:
        if register and info.data.get("log_model") is False:
            raise ValueError("registers the logged model: set tracking.log_model=true too")
        return register


class EvalConfig(_Strict):
    mc_samples: Annotated[int, Field(ge=0)]
    mc_curve: list[Annotated[int, Field(gt=0)]]
    ece_bins: Annotated[int, Field(gt=0)]

    @field_validator("mc_curve")
    @classmethod
    def _within_the_passes(cls, ks: list[int], info: ValidationInfo) -> list[int]:
        samples = info.data.get("mc_samples", 0)
        if ks != sorted(set(ks)):
            raise ValueError(f"numbers of passes must be increasing and distinct, got {ks}")
        if ks and ks[-1] > samples:
            raise ValueError(f"{ks[-1]} passes asked for, but eval.mc_samples = {samples}")
        return ks


class ReportConfig(_Strict):
    source: Literal["auto", "dvc", "mlflow"]
    parent_run_id: Annotated[str, Field(min_length=1)] | None
    experiment: Annotated[str, Field(min_length=1)] | None
    out_dir: Annotated[str, Field(min_length=1)] | None


class SweepConfig(_Strict):
    # The DVC train matrix: one stage per rate and seed, which its command passes as
    # model.dropout.rate and train.seed.
    rates: Annotated[list[MatrixRate], Field(min_length=1)]
    seeds: Annotated[list[MatrixSeed], Field(min_length=1)]

    @field_validator("rates", "seeds")
    @classmethod
    def _unique(cls, values: list[Any], info: ValidationInfo) -> list[Any]:
        if len(set(values)) != len(values):
            raise ValueError(f"{info.field_name} must be distinct, got {values}")
        return values


class SearchRange(_Strict):
    """The range a searched key's value is drawn from (log: on a log scale, for learning rates)."""

    low: float
    high: float
    log: bool = False

    @field_validator("high")
    @classmethod
    def _above_low(cls, high: float, info: ValidationInfo) -> float:
        low = info.data.get("low")
        if low is not None and not high > low:
            raise ValueError(f"must be above low ({low})")
        return high

    @field_validator("log")
    @classmethod
    def _positive_for_log(cls, log: bool, info: ValidationInfo) -> bool:
        if log and info.data.get("low", 1.0) <= 0:
            raise ValueError("a log-scale range needs low > 0")
        return log


class PrunerConfig(_Strict):
    """Stops a trial whose per-epoch validation loss is worse than its peers' at the same epoch.

    median: worse than the median of earlier trials (after `n_startup_trials` trials and
    `n_warmup_steps` epochs); successive_halving: keeps the best 1/`reduction_factor` at each rung
    (epoch `min_resource` x `reduction_factor`^k); none: every trial trains all its epochs."""

    name: Literal["median", "successive_halving", "none"]
    n_startup_trials: Annotated[int, Field(ge=0)] = 2
    n_warmup_steps: Annotated[int, Field(ge=0)] = 0
    min_resource: Annotated[int, Field(gt=0)] = 1
    reduction_factor: Annotated[int, Field(ge=2)] = 3


def _dotted_ranges(tree: Any) -> Any:
    """`{model: {dropout: {rate: {low, high}}}}` (what Hydra overrides can address) as
    `{"model.dropout.rate": {low, high}}`: a node with `low` or `high` is a range."""
    if not isinstance(tree, dict):
        return tree
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict) and not ({"low", "high"} & set(node)):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        else:
            out[prefix] = node

    walk("", tree)
    return out


class SearchConfig(_Strict):
    """A hyperparameter search (`conf/hparams_search/`, run by `python -m pipeline.tune`)."""

    study: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    # Trials that count (finished or pruned), over every session and worker of the study.
    n_trials: Annotated[int, Field(gt=0)]
    # Dotted config keys (model.dropout.rate, train.learning_rate...) -> the range searched.
    params: Annotated[dict[str, SearchRange], Field(min_length=1), BeforeValidator(_dotted_ranges)]
    pruner: PrunerConfig
    sampler_seed: Annotated[int, Field(ge=0)] | None
    # Optuna's storage URL; null = beside the tracking store (see pipeline.tuning.storage).
    storage: str | None
    # Points to try first, e.g. the current defaults ({key: value}); each once per study.
    enqueue: list[dict[str, float]] = []
    # This process's index in a parallel search (`-m search.worker=0,1`): seeds its sampler apart.
    worker: Annotated[int, Field(ge=0)] = 0
    # Seconds between a running trial's liveness beats in the study's storage; a trial whose
    # process stopped beating for `2 x` this is failed by the next session (never counted).
    heartbeat_s: Annotated[int, Field(gt=0)] = 30


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _as_tag_value(value: Any) -> Any:
    """A tag's value as MLflow stores it, text: `+tags.ticket=12` gives Hydra an int."""
    if isinstance(value, bool):
        return str(value).lower()  # as YAML and Hydra write it
    return str(value) if _is_number(value) else value


# The namespaces of the tags MLflow and the pipeline set: a user tag there would overwrite one.
RESERVED_TAG_PREFIXES = ("mlflow.", "dropout_lab.")
TagKey = Annotated[str, Field(min_length=1, max_length=250)]
TagValue = Annotated[str, BeforeValidator(_as_tag_value)]


class Settings(_Strict):
    """The whole validated config; plain functions take this (or one of its parts)."""

    data: DataConfig
    # Validated by the class of the model `model.name` names, and dumped with all of its keys.
    model: SerializeAsAny[ModelConfig]
    train: TrainConfig
    tracking: TrackingConfig
    eval: EvalConfig
    sweep: SweepConfig
    report: ReportConfig
    # Only with `hparams_search=<name>`: the search's config (no key at all otherwise).
    search: SearchConfig | None = None
    # The user's own tags, set on every MLflow run (never params: they say nothing of the numbers).
    tags: dict[TagKey, TagValue]

    @field_validator("model", mode="before")
    @classmethod
    def _by_its_model(cls, model: Any) -> Any:
        """The model's own `Config` validates its keys (an unknown name: the shared schema says so)."""
        name = model.get("name") if isinstance(model, dict) else None
        if isinstance(name, str) and name in _registry().names():
            return _registry().config_class(name).model_validate(model)
        return model

    @field_validator("tags")
    @classmethod
    def _not_reserved(cls, tags: dict[str, str]) -> dict[str, str]:
        taken = sorted(key for key in tags if key.startswith(RESERVED_TAG_PREFIXES))
        if taken:
            spaces = " and ".join(RESERVED_TAG_PREFIXES)
            raise ValueError(f"{taken}: keys under {spaces} are MLflow's and the pipeline's own tags")
        return tags


def load_settings(cfg: DictConfig | dict[str, Any]) -> Settings:
    """Validate a composed config; raise `ConfigError` listing every bad key, value and rule."""
    if isinstance(cfg, DictConfig):
        # Hydra's own node is not ours to validate, and may not resolve outside a job.
        cfg = {str(key): OmegaConf.select(cfg, str(key)) for key in cfg if key != "hydra"}
        plain = OmegaConf.to_container(OmegaConf.create(cfg), resolve=True)
    else:
        plain = {key: value for key, value in cfg.items() if key != "hydra"}
    assert isinstance(plain, dict)
    try:
        return Settings.model_validate(plain)
    except ValidationError as exc:
        raise ConfigError.of(exc.errors()) from None


def flatten(settings: Settings) -> dict[str, Any]:
    """Dotted keys (`model.dropout.rate`) to values: the shape MLflow params and tables want."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else key, value)
        else:
            out[prefix] = node

    dumped = settings.model_dump()
    if dumped.get("search") is None:  # no search: no key (params and tables stay as they were)
        dumped.pop("search", None)
    walk("", dumped)
    return out
