"""Experiment configuration: typed, validated, loadable from YAML/JSON, saved beside every run.

Unknown keys are errors (``extra="forbid"``), and nothing in a config is ever evaluated as code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from polymodal.errors import PolymodalError

C = TypeVar("C", bound="_Strict")
M = TypeVar("M", bound=BaseModel)


class ConfigError(PolymodalError, ValueError):
    """A config file cannot be read: bad YAML, a tag that is not a plain value, or values that do not validate."""


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML or JSON file, read with ``yaml.safe_load`` (no code is run, no object built).

    A syntax error or a tag such as ``!!python/object`` is a :class:`ConfigError` naming the file, line and
    column.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); give a YAML or "
                          "JSON file") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(_describe_yaml_error(path, exc)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping (KEY: VALUE lines) at the top level, "
                          f"not a {type(data).__name__}")
    return data


def _describe_yaml_error(path: str | Path, exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"{path} line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(path)
    problem = str(getattr(exc, "problem", None) or exc)
    tag = re.search(r"for the tag '([^']*)'", problem)
    if isinstance(exc, yaml.constructor.ConstructorError) and tag:
        name = tag.group(1).replace("tag:yaml.org,2002:", "!!")
        return f"{where}: tag {name!r} is not allowed; configs hold plain values only"
    return f"{where}: could not parse YAML: {problem}"


def describe_validation_error(exc: ValidationError, source: str | Path | None = None) -> str:
    """A pydantic error as one line per wrong value: ``data.epochs: Input should be ...``."""
    def where(loc: tuple[int | str, ...]) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".") or "config"

    def what(error: Any) -> str:
        if error["type"] == "extra_forbidden":
            return "unknown key"
        return str(error["msg"])

    lines = [f"  {where(e['loc'])}: {what(e)}" for e in exc.errors()]
    head = f"{source}: " if source is not None else ""
    return f"{head}{exc.error_count()} invalid value(s) in {exc.title}:\n" + "\n".join(lines)


def validate_config(cls: type[M], data: dict[str, Any], source: str | Path) -> M:
    """``cls.model_validate(data)``; a pydantic error becomes a :class:`ConfigError` naming ``source``."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, source)) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @classmethod
    def from_file(cls: type[C], path: str | Path) -> C:
        """Load a YAML or JSON config (``yaml.safe_load``: no code is run); see :func:`read_config_file`.

        A relative ``data.data_root`` is relative to the file's folder.
        """
        data = read_config_file(path)
        section = data.get("data")
        if isinstance(section, dict) and isinstance(section.get("data_root"), str):
            root = Path(section["data_root"]).expanduser()
            data = {**data, "data": {**section, "data_root": str(Path(path).parent / root)}}
        return validate_config(cls, data, path)


BALANCED = "balanced"
ClassWeightSpec = str | Mapping[str, Any]  # see polymodal.data.weights


def check_class_weight_spec(spec: Any) -> ClassWeightSpec | None:
    """``spec`` in config form (keys as strings), or a ``ValueError`` saying what is wrong (the config's
    validator)."""
    if spec is None or spec == BALANCED:
        return spec
    if isinstance(spec, str):
        raise ValueError(f"class_weight must be 'balanced', {{class: weight}} or {{target: spec}}, got {spec!r}")
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError(f"class_weight must be 'balanced', {{class: weight}} or {{target: spec}}, got {spec!r}")
    if is_per_target(spec):
        return {str(k): check_class_weight_spec(v) for k, v in spec.items()}
    out: dict[str, float] = {}
    for key, value in spec.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"class_weight of class {key!r} must be a non-negative number, got {value!r}")
        out[str(key)] = float(value)
    if not any(out.values()):
        raise ValueError("class_weight: every class weight is zero; no row would train")
    return out


def is_per_target(spec: Mapping[str, Any]) -> bool:
    """Whether a class-weight spec is given per target (``{target: spec}``) rather than per class."""
    return any(isinstance(v, (str, Mapping)) for v in spec.values())



class DataConfig(_Strict):
    targets: list[str] = Field(default_factory=list, description="target column(s)")
    modalities: dict[str, str] = Field(default_factory=dict, description="COLUMN -> kind overrides")
    tasks: dict[str, str] = Field(default_factory=dict, description="target -> task overrides")
    ignore: list[str] = Field(default_factory=list, description="columns that are neither inputs nor targets")
    split_column: str | None = Field(None, description="column whose 'test' rows are held out for testing")
    on_error: Literal["raise", "skip"] = "raise"
    data_root: str | None = Field(None, description="refuse file paths outside this folder (stored absolute: "
                                                    "a relative one is resolved against the current folder)")
    preprocess: dict[str, dict[str, Any]] = Field(default_factory=dict, description="options per modality/kind")
    group_tabular: bool = True
    stream: bool = Field(False, description="read a CSV/Parquet table in chunks and stream it to training, so "
                                            "memory does not grow with the number of rows (tables larger than memory)")
    chunk_rows: int = Field(10000, ge=1, description="streaming: rows read, validated and encoded at a time")
    fit_sample_rows: int = Field(20000, ge=2, description="streaming: rows sampled (uniformly, seeded) to infer "
                                                          "the schema and fit the preprocessing")
    sample_weight: str | None = Field(
        None, description="column of each row's weight in the training and validation losses (non-negative "
                          "numbers; never an input); see polymodal.data.weights")

    @field_validator("data_root")
    @classmethod
    def _absolute_root(cls, value: str | None) -> str | None:
        return resolve_data_root(value)


def resolve_data_root(value: str | Path | None) -> str | None:
    """``value`` as an absolute path (``~`` expanded, symlinks resolved), so that a saved model refuses the
    same files wherever it is used from; ``None`` stays ``None``."""
    return None if value is None else str(Path(value).expanduser().resolve())


class EnsembleMember(_Strict):
    """One member of an ensemble: the model config with these fields replaced (unset ones are the model's)."""

    fusion: str | None = None
    fusion_args: dict[str, Any] | None = None
    modality_dropout: float | None = Field(None, ge=0, lt=1)
    seed: int = Field(0, description="added to train.seed for this member's initial weights and batch order")


class ModelConfig(_Strict):
    fusion: str = "concat"
    fusion_args: dict[str, Any] = Field(default_factory=dict)
    encoders: dict[str, str] = Field(default_factory=dict, description="modality or kind -> encoder name")
    encoder_args: dict[str, dict[str, Any]] = Field(default_factory=dict, description="modality or kind -> args")
    head_hidden: int = 128
    dropout: float = 0.1
    modality_dropout: float = Field(
        0.25, ge=0, lt=1,
        description="modality dropout (ModDrop, Neverova et al. 2015): in training, hide each modality of a sample "
                    "with this probability (never all of them), so that the model learns from every modality, "
                    "does not lean on one, and trains its missing-modality embeddings for prediction with a "
                    "modality absent. 0 turns it off; a table with one modality is unaffected.")
    sharing: Literal["hard", "soft", "cross-stitch"] = Field(
        "hard", description="multi-task sharing: one trunk (hard), a tower per task tied by L2 (soft) or "
                            "by cross-stitch units")
    sharing_weight: float = Field(1e-3, ge=0, description="soft sharing: weight of the L2 penalty between towers")
    stitch_init: float = Field(0.9, gt=0, le=1, description="cross-stitch: initial weight of a tower's own features")
    init_from: str | None = Field(
        None, description="transfer: a bundle (of `pretrain` or `fit`) whose encoders, with their fitted "
                          "preprocessing, initialise those of the modalities it has; the others are built fresh")
    freeze: bool = Field(False, description="transfer: keep the transferred weights fixed (no gradient, eval mode)")
    transfer: Literal["encoders", "trunk"] = Field(
        "encoders", description="transfer: the encoders only, or the encoders and the fusion (trunk) of a "
                                "supervised bundle, with new heads for the new targets")
    augment: dict[str, Any] = Field(
        default_factory=dict,
        description="modality or kind -> training augmentations: 'default', 'none', [names] or {name: args} "
                    "(see polymodal.augment); frozen pretrained embeddings count as vectors")
    ensemble: list[EnsembleMember] = Field(
        default_factory=list,
        description="two or more members (fusions or seeds) trained one after the other and combined by a "
                    "stacked linear meta-model fitted on the validation rows (see polymodal.models.ensemble); "
                    "empty: one model")

    def member(self, member: EnsembleMember) -> ModelConfig:
        """This config for one ensemble member: its fields replaced, no ensemble of its own."""
        update = {k: v for k, v in member.model_dump(exclude={"seed"}).items() if v is not None}
        return self.model_copy(update={**update, "ensemble": []})


class TrainConfig(_Strict):
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(1e-3, gt=0)
    lr_schedule: Literal["constant", "cosine"] = Field(
        "constant", description="the learning rate over training: constant, or a cosine decay to zero at the last "
                                "epoch (after the warmup)")
    warmup_epochs: float = Field(0.0, ge=0, description="epochs of linear warmup from zero to lr (0: none)")
    weight_decay: float = Field(1e-4, ge=0)
    val_fraction: float = Field(0.2, gt=0, lt=1)
    patience: int = Field(5, ge=1, description="early stopping: epochs without improvement")
    seed: int = 0
    accelerator: str = "cpu"
    devices: int | str = Field(1, description="devices per node (a number, -1 for all, or a list)")
    num_nodes: int = Field(1, ge=1, description="machines in a multi-node run (see docs/distributed.md)")
    strategy: str = "auto"
    precision: str = "32-true"
    num_workers: int = 0
    drop_last: bool = Field(False, description="drop the last training batch when it is incomplete (deep CCA: "
                            "every batch then holds batch_size rows, enough to estimate the covariances)")
    loss_weighting: Literal["fixed", "uncertainty"] = "fixed"
    loss_weights: dict[str, float] = Field(default_factory=dict)
    progress: bool = True
    time_limit: float | None = Field(
        None, gt=0, description="seconds of training at most: training stops cleanly at the budget and keeps the "
                                "best weights so far (checked after every batch)")
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="multiclass targets: label smoothing of the "
                                                                "cross-entropy (0: none)")
    ema_decay: float | None = Field(
        None, gt=0, lt=1, description="keep an exponential moving average of the weights with this decay per "
                                      "optimiser step (e.g. 0.99 to 0.9999): validation, the best weights and the "
                                      "saved model use the average (see polymodal.engine.weight_average); None: the "
                                      "raw weights")
    class_weight: str | dict[Any, Any] | None = Field(
        None, description="class weights of the training and validation losses: 'balanced' (n / (classes * n_c) "
                          "on the training rows), {class: weight} (others weigh 1), or per target {target: spec}; "
                          "a fit saves them resolved, {target: {class: weight}} (see polymodal.data.weights)")
    balance: Literal["none", "ogm-ge", "gradient-blending"] = Field(
        "none", description="modality imbalance (middle fusions): on-the-fly gradient modulation of the encoders "
                            "(ogm-ge, Peng et al. 2022, generalised to any number of modalities) or loss weights "
                            "from each modality's overfitting-to-generalisation ratio (gradient-blending, Wang et "
                            "al. 2020), with a linear auxiliary head per modality (see polymodal.engine.balance)")
    balance_alpha: float = Field(0.5, gt=0, description="ogm-ge: alpha of the coefficient 1 - tanh(alpha (ratio - 1))")
    balance_noise: bool = Field(True, description="ogm-ge: add the generalisation-enhancement Gaussian noise (GE) "
                                                  "to the modulated encoder gradients")
    balance_every: int = Field(2, ge=1, description="gradient-blending: epochs between re-estimates of the weights")
    preset: Literal["none", "fast", "medium", "best"] = Field(
        "medium", description="a recipe resolved from the data that fills the options left unset: fast (a short "
                              "schedule), medium (converged training with encoders that suit the inputs), best "
                              "(medium, and an ensemble of several fusions within the time limit) or none (the "
                              "plain defaults); see polymodal.engine.presets")
    baseline: bool = Field(True, description="also fit the classical baseline (logistic regression and gradient "
                                             "boosting on simple features of the same rows) and report it beside "
                                             "the model (see polymodal.evaluation.baseline)")
    verbose: bool = Field(False, description="show Lightning's own messages (devices available, tips)")
    loop: Literal["auto", "lightning"] = Field(
        "auto", description="the training loop: auto (polymodal's own for a single-process CPU run in 32-bit "
                            "precision, which spares a small model Lightning's per-step cost; Lightning for "
                            "everything else) or lightning (always); see polymodal.engine.loop")

    @field_validator("class_weight")
    @classmethod
    def _class_weight(cls, value: Any) -> Any:
        return check_class_weight_spec(value)


class FitConfig(_Strict):
    data: DataConfig = Field(default_factory=lambda: DataConfig())
    model: ModelConfig = Field(default_factory=lambda: ModelConfig())
    train: TrainConfig = Field(default_factory=lambda: TrainConfig())


class PretrainModelConfig(_Strict):
    """What :func:`polymodal.engine.pretrain.pretrain` builds: an objective and its encoders."""

    objective: str = Field("contrastive", description="representation objective (see polymodal.models.objectives)")
    objective_args: dict[str, Any] = Field(default_factory=dict, description="arguments of the objective's model")
    encoders: dict[str, str] = Field(default_factory=dict, description="modality or kind -> encoder name")
    encoder_args: dict[str, dict[str, Any]] = Field(default_factory=dict, description="modality or kind -> args")
    init_from: str | None = Field(
        None, description="transfer: a bundle (of `pretrain` or `fit`) whose encoders, with their fitted "
                          "preprocessing, initialise those of the modalities it has; the others are built fresh")
    freeze: bool = Field(False, description="transfer: keep the transferred encoders fixed (no gradient, eval mode)")
    augment: dict[str, Any] = Field(
        default_factory=dict,
        description="modality or kind -> training augmentations: 'default', 'none', [names] or {name: args} "
                    "(see polymodal.augment)",
    )


class PretrainConfig(_Strict):
    """Representation learning without targets; ``data.targets`` are left out of the inputs."""

    data: DataConfig = Field(default_factory=lambda: DataConfig())
    model: PretrainModelConfig = Field(default_factory=lambda: PretrainModelConfig())
    train: TrainConfig = Field(default_factory=lambda: TrainConfig())


def with_options(config: C, options: Mapping[str, Any]) -> C:
    """A copy of ``config`` with flat ``options`` set, each in the section (``data``, ``model``, ``train``)
    that has a field of that name; an unknown option is a ``TypeError`` listing the valid ones."""
    sections: dict[str, type[BaseModel]] = {name: type(getattr(config, name)) for name in type(config).model_fields}
    updates: dict[str, dict[str, Any]] = {name: {} for name in sections}
    for key, value in options.items():
        section = next((name for name, cls in sections.items() if key in cls.model_fields), None)
        if section is None:
            valid = sorted(f for cls in sections.values() for f in cls.model_fields)
            raise TypeError(f"unknown option {key!r}; valid options: {', '.join(valid)}")
        updates[section][key] = value
    # exclude_unset: what was set stays set and the rest stays a default, so a preset can tell them apart
    return type(config).model_validate({s: {**getattr(config, s).model_dump(exclude_unset=True), **updates[s]}
                                        for s in sections})
