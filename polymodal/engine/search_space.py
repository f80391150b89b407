"""The search space of ``polymodal tune``: what each trial draws, from which range, and how a draw becomes a config.

A dimension is a :class:`Choice` (a list of values) or a :class:`Range` (numbers from ``low`` to ``high``,
on a log scale where the options's effect is multiplicative, as for the learning rate). The default space
(:data:`DEFAULT_SPACE`, :data:`FUSION_ARGS`) covers the fusion method and its arguments, the learning rate,
weight decay, dropout, modality dropout, the head and encoder widths and the batch size.

Only what the base config leaves unset is searched: a flag, an option of :func:`polymodal.tune` or a key of
a config file fixes that option. ``search`` replaces one dimension (``{"fusion": ["concat", "late"]}``,
``{"lr": (1e-4, 3e-3)}``), adds one for any other scalar option of the model or training config
(``{"patience": [5, 10]}``) or for a fusion's argument (``{"low_rank.rank": [2, 8]}``), or turns one off
(``{"dropout": None}``: the base config's value is kept). On the command line: ``--search fusion=concat,late``,
``--search lr=1e-4:3e-3``, ``--search dropout=off``.

``encoder_width`` is the ``output_dim`` of each modality's encoder. It is searched for the modalities
whose encoder is known before the data is read: not for an image modality whose encoder a preset chooses
from the image size (tiny images get an MLP), unless ``--encoder`` names it.

Example
-------
>>> space = resolve_space(FitConfig(), {"img": "image", "snd": "audio"}, {"fusion": ["concat", "late"]})
>>> space["fusion"]
Choice(values=('concat', 'late'))
>>> apply_params(FitConfig(), {"fusion": "low_rank", "low_rank.rank": 8, "lr": 0.01}).model.fusion_args
{'rank': 8}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from polymodal.config import FitConfig, ModelConfig, TrainConfig, with_options
from polymodal.fusion import FUSIONS

Scalar = str | int | float | bool


@dataclass(frozen=True)
class Choice:
    """One of ``values`` (strings, numbers or booleans)."""

    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Range:
    """A number from ``low`` to ``high``; an integer when both ends are integers; ``log`` for a log scale."""

    low: float
    high: float
    log: bool = False

    @property
    def integer(self) -> bool:
        return isinstance(self.low, int) and isinstance(self.high, int)


Dimension = Choice | Range
WIDTH = "encoder_width"
_WIDTHS = Choice((64, 128, 256))

DEFAULT_SPACE: dict[str, Dimension] = {
    "fusion": Choice(("concat", "late", "late_stacking", "early", "gated", "low_rank", "sum", "tensor",
                      "transformer", "cross_attention")),
    "lr": Range(1e-4, 1e-2, log=True),
    "weight_decay": Range(1e-5, 0.1, log=True),
    "dropout": Range(0.0, 0.5),
    "modality_dropout": Range(0.0, 0.5),
    "head_hidden": _WIDTHS,
    WIDTH: _WIDTHS,
    "batch_size": Choice((32, 64, 128)),
}
"""The options searched when the base config leaves them unset (the fusion's arguments are in :data:`FUSION_ARGS`)."""

FUSION_ARGS: dict[str, dict[str, Dimension]] = {
    "early": {"dropout": Range(0.0, 0.5)},
    "gated": {"output_dim": _WIDTHS, "gate": Choice(("softmax", "sigmoid"))},
    "low_rank": {"output_dim": _WIDTHS, "rank": Choice((2, 4, 8, 16))},
    "sum": {"output_dim": _WIDTHS},
    "tensor": {"output_dim": _WIDTHS, "proj_dim": Choice((8, 16, 32))},
    "transformer": {"output_dim": Choice((64, 128)), "num_heads": Choice((2, 4)), "num_layers": Choice((1, 2)),
                    "dropout": Range(0.0, 0.3)},
    "cross_attention": {"output_dim": Choice((64, 128)), "num_heads": Choice((1, 2, 4))},
    "late_stacking": {"hidden_dim": Choice((16, 32, 64))},
}
"""Per fusion method: the arguments searched when that method is drawn (and ``fusion_args`` is unset)."""

_SECTIONS: dict[str, type[ModelConfig] | type[TrainConfig]] = {"model": ModelConfig, "train": TrainConfig}
_NOT_SEARCHED = frozenset({"fusion_args", "encoders", "encoder_args", "augment", "init_from", "loss_weights",
                           "accelerator", "devices", "num_nodes", "strategy", "precision", "progress", "verbose",
                           "time_limit", "seed", "num_workers", "baseline"})


def _field_section(name: str) -> str | None:
    return next((s for s, cls in _SECTIONS.items() if name in cls.model_fields and name not in _NOT_SEARCHED), None)


def _check_name(name: str) -> None:
    if name == WIDTH or _field_section(name):
        return
    fusion, _, arg = name.partition(".")
    if arg:
        valid = [p for p in FUSIONS.get(fusion).parameters() if p not in ("input_dims", "num_outputs", "activation")]
        if arg in valid:
            return
        raise ValueError(f"--search {name}: the fusion {fusion!r} has no argument {arg!r}; "
                         f"its arguments: {', '.join(valid) or 'none'}")
    valid = sorted({WIDTH, *(f for cls in _SECTIONS.values() for f in cls.model_fields if f not in _NOT_SEARCHED)})
    raise ValueError(f"--search {name}: not a searchable option; give FUSION.ARG (e.g. low_rank.rank) or one of: "
                     f"{', '.join(valid)}")


def _is_fixed(name: str, config: FitConfig) -> bool:
    section = _field_section(name)
    if section is not None:
        return name in getattr(config, section).model_fields_set
    if name == WIDTH:
        return False  # per modality: see _width_modalities
    return "fusion_args" in config.model.model_fields_set or (
        "fusion" in config.model.model_fields_set and config.model.fusion != name.partition(".")[0])


def width_modalities(config: FitConfig, kinds: Mapping[str, str]) -> list[str]:
    """The modalities whose encoder width a trial sets: not those whose encoder arguments the base config
    gives, nor an image whose encoder a preset picks from the image size (unless an encoder is named)."""
    model = config.model
    chosen: list[str] = []
    for name, kind in kinds.items():
        if name in model.encoder_args or kind in model.encoder_args:
            continue
        named = name in model.encoders or kind in model.encoders
        if kind == "image" and config.train.preset != "none" and not named:
            continue
        chosen.append(name)
    return chosen


def as_dimension(value: Any, name: str) -> Dimension | None:
    """A dimension from what a user wrote: a :class:`Choice`/:class:`Range`, a list (choices), a tuple or
    ``{"low": .., "high": .., "log": ..}`` (a range), or None (not searched)."""
    if value is None or isinstance(value, (Choice, Range)):
        return value
    if isinstance(value, list) and value:
        return Choice(tuple(value))
    if isinstance(value, tuple) and len(value) == 2:
        return _range(name, value[0], value[1], None)
    if isinstance(value, Mapping) and set(value) <= {"low", "high", "log"} and {"low", "high"} <= set(value):
        return _range(name, value["low"], value["high"], value.get("log"))
    raise ValueError(f"--search {name}: give a list of choices, (low, high), {{'low': .., 'high': ..}} or None, "
                     f"not {value!r}")


def _range(name: str, low: Any, high: Any, log: bool | None) -> Range:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or not low < high:
        raise ValueError(f"--search {name}: a range needs two numbers LOW < HIGH, got {low!r} and {high!r}")
    default = DEFAULT_SPACE.get(name)
    log = bool(default.log) if log is None and isinstance(default, Range) else bool(log)
    if log and low <= 0:
        raise ValueError(f"--search {name}: a log-scale range needs LOW > 0, got {low!r}")
    return Range(low, high, log)


def parse_search(items: list[str]) -> dict[str, Dimension | None]:
    """``--search NAME=VALUES`` flags: ``a,b,c`` (choices), ``LOW:HIGH`` (a range) or ``off`` (not searched)."""
    space: dict[str, Dimension | None] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name, text = name.strip(), text.strip()
        if not sep or not name or not text:
            raise ValueError(f"--search takes NAME=VALUES (e.g. fusion=concat,late, lr=1e-4:1e-2 or dropout=off), "
                             f"got {item!r}")
        if text == "off":
            space[name] = None
        elif ":" in text:
            low, _, high = text.partition(":")
            space[name] = _range(name, _value(low), _value(high), None)
        else:
            space[name] = Choice(tuple(_value(v) for v in text.split(",")))
    return space


def _value(text: str) -> Any:
    """A value as written on the command line: an int, a float (``1e-3`` too, which YAML reads as a string),
    else a YAML scalar (``true``, ``concat``)."""
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    return yaml.safe_load(text)


def resolve_space(config: FitConfig, kinds: Mapping[str, str],
                  search: Mapping[str, Any] | None = None) -> dict[str, Dimension]:
    """The dimensions the trials draw for ``config`` on a table with modalities ``kinds`` (name -> kind):
    :data:`DEFAULT_SPACE` and :data:`FUSION_ARGS` less what ``config`` fixes, with ``search`` applied.

    A dimension in ``search`` for an option the config also fixes is an error (one of the two is a mistake).
    """
    space: dict[str, Dimension] = {}
    for name, dim in DEFAULT_SPACE.items():
        if not _is_fixed(name, config) and (name != WIDTH or width_modalities(config, kinds)):
            space[name] = dim
    for fusion, args in FUSION_ARGS.items():
        for arg, dim in args.items():
            if not _is_fixed(f"{fusion}.{arg}", config):
                space[f"{fusion}.{arg}"] = dim
    for name, value in (search or {}).items():
        _check_name(name)
        if _is_fixed(name, config) and value is not None:
            raise ValueError(f"--search {name}: the base config fixes {name.partition('.')[0]} (a flag or a key of "
                             "--config); give either the value or the search range, not both")
        given = as_dimension(value, name)
        if given is None:
            space.pop(name, None)
        else:
            space[name] = given
    fusions = space.get("fusion")
    chosen = {str(f) for f in fusions.values} if isinstance(fusions, Choice) else {config.model.fusion}
    for name in [n for n in space if "." in n and n.partition(".")[0] not in chosen]:
        del space[name]  # arguments of a fusion that is never drawn
    for method in chosen:
        FUSIONS.get(method)  # an unknown method fails here, listing the known ones
    return space


def space_record(space: Mapping[str, Dimension]) -> dict[str, Any]:
    """The space as JSON (for the study's fingerprint and the report)."""
    return {name: ({"choices": list(d.values)} if isinstance(d, Choice) else
                   {"low": d.low, "high": d.high, "log": d.log}) for name, d in space.items()}


def suggest(trial: Any, space: Mapping[str, Dimension], fusion: str) -> dict[str, Any]:
    """Draw a trial's parameters (``trial`` is an :class:`optuna.Trial`): the fusion first, then only the
    arguments of the fusion drawn (``fusion`` is the base config's method, for a space without ``fusion``)."""
    params: dict[str, Any] = {}
    if "fusion" in space:
        params["fusion"] = fusion = _draw(trial, "fusion", space["fusion"])
    for name, dim in space.items():
        if name != "fusion" and ("." not in name or name.partition(".")[0] == fusion):
            params[name] = _draw(trial, name, dim)
    return params


def _draw(trial: Any, name: str, dim: Dimension) -> Any:
    if isinstance(dim, Choice):
        return trial.suggest_categorical(name, list(dim.values))
    if dim.integer:
        return trial.suggest_int(name, int(dim.low), int(dim.high), log=dim.log)
    return trial.suggest_float(name, float(dim.low), float(dim.high), log=dim.log)


def apply_params(config: FitConfig, params: Mapping[str, Any], kinds: Mapping[str, str] | None = None) -> FitConfig:
    """``config`` with a trial's ``params`` set (as if given as options, so a preset leaves them alone)."""
    options: dict[str, Any] = {}
    fusion = str(params.get("fusion", config.model.fusion))
    args = {name.partition(".")[2]: v for name, v in params.items() if name.partition(".")[0] == fusion and "." in name}
    if args:
        options["fusion_args"] = {**config.model.fusion_args, **args}
    if WIDTH in params:
        widths = {m: {"output_dim": int(params[WIDTH])} for m in width_modalities(config, kinds or {})}
        options["encoder_args"] = {**config.model.encoder_args, **widths}
    options.update({name: v for name, v in params.items() if "." not in name and name != WIDTH})
    return with_options(config, options)


__all__ = ["DEFAULT_SPACE", "FUSION_ARGS", "WIDTH", "Choice", "Dimension", "Range", "apply_params",
           "as_dimension", "parse_search", "resolve_space", "space_record", "suggest", "width_modalities"]
