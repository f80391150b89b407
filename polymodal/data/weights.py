"""Class and sample weights for imbalanced data: read, checked and resolved before training.

A **sample weight** column (``DataConfig.sample_weight``, ``--sample-weight COL``) gives each row's weight in
the training and validation losses; it is never an input. Its values must be numbers, finite and
non-negative, and not all zero. The encoded weights travel with the rows in ``EncodedData.targets`` under
the key :data:`SAMPLE_WEIGHT` (every batch then carries them).

A **class weight** (``TrainConfig.class_weight``, ``--class-weight``) multiplies the loss of each row by
the weight of its class: ``"balanced"`` (``n / (n_classes * n_c)`` over the training rows that hold the
label, as scikit-learn's ``compute_class_weight``), or ``{class: weight}`` (classes left out weigh 1). In a
multi-task fit it is given per target, ``{target: spec}``; a plain ``"balanced"`` applies to every
classification target. :func:`resolve_class_weights` turns a spec into ``{target: {class: weight}}``, the
form saved in the bundle's config (resolving it again gives the same weights).

Example
-------
>>> parse_class_weight(["balanced"])
'balanced'
>>> parse_class_weight(["rare=5,common=1"])
{'rare': 5.0, 'common': 1.0}
>>> parse_class_weight(["y:balanced", "z:a=2"])
{'y': 'balanced', 'z': {'a': 2.0}}
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from polymodal.config import BALANCED, ClassWeightSpec, check_class_weight_spec, is_per_target
from polymodal.data.cells import is_missing, to_float
from polymodal.data.dataset import EncodedData
from polymodal.data.schema import TaskKind
from polymodal.data.targets import TargetEncoder, target_present
from polymodal.errors import DataError, Problem

SAMPLE_WEIGHT = "__sample_weight__"  # the key of the rows' sample weights in EncodedData.targets
CLASS_TASKS = (TaskKind.BINARY, TaskKind.MULTICLASS)


def sample_weight_values(frame: pd.DataFrame, column: str, source: str = "the table") -> np.ndarray:
    """The sample weights of every row of ``frame`` (float64 ``[N]``); a :class:`DataError` naming every
    row whose weight is missing, not a number, not finite or negative, or when they are all zero."""
    if column not in frame.columns:
        raise DataError(f"sample weight column {column!r} is not in {source}; columns: "
                        f"{', '.join(map(str, frame.columns))}", [Problem("no such column", column=column)])
    problems: list[Problem] = []
    values = np.zeros(len(frame), dtype=np.float64)
    hint = "sample weights are non-negative numbers: fix the cell or remove the row"
    for row, cell in enumerate(frame[column].tolist()):
        number = None if is_missing(cell) else to_float(cell)
        if number is None or not math.isfinite(number) or number < 0:
            what = ("no sample weight" if is_missing(cell) else f"sample weight {cell!r} is not a number"
                    if number is None else f"sample weight {cell!r} is not finite" if not math.isfinite(number)
                    else f"sample weight {cell!r} is negative")
            problems.append(Problem(what, row=row, column=column, hint=hint))
        else:
            values[row] = number
    if problems:
        raise DataError(f"{len(problems)} row(s) of the sample weight column {column!r} in {source} are not "
                        "non-negative numbers", problems)
    if not values.any():
        raise DataError(f"every sample weight in column {column!r} of {source} is zero: no row would train",
                        [Problem("all sample weights are zero", column=column)])
    return values


def with_sample_weights(data: EncodedData, weights: np.ndarray) -> EncodedData:
    """``data`` with each row's weight (``weights`` indexed by position in the user's table) attached."""
    targets = {**data.targets, SAMPLE_WEIGHT: torch.from_numpy(weights[data.rows].astype(np.float32))}
    return EncodedData(data.inputs, data.masks, targets, data.rows)


def sample_weights(targets: Mapping[str, Tensor]) -> Tensor | None:
    """The batch's sample weights ``[B]``, or None when the fit has none."""
    return targets.get(SAMPLE_WEIGHT)


def sample_weight_summary(column: str, weights: Tensor) -> dict[str, Any]:
    """What a fit's metrics say of its training rows' sample weights."""
    w = weights.double()
    return {"column": column, "rows": len(w), "zero": int((w == 0).sum()), "min": float(w.min()),
            "max": float(w.max()), "mean": float(w.mean())}


def parse_class_weight(items: Sequence[str]) -> ClassWeightSpec:
    """``--class-weight`` values as a config spec: ``balanced``, ``CLASS=VALUE,...``, or per target
    ``TARGET:balanced`` / ``TARGET:CLASS=VALUE,...`` (repeat the flag for each target)."""
    if not items:
        raise ValueError("--class-weight needs a value: balanced, CLASS=VALUE,... or TARGET:SPEC")
    per_target: dict[str, Any] = {}
    plain: list[ClassWeightSpec] = []
    for item in items:
        head, sep, rest = item.partition(":")
        if sep and "=" not in head and head.strip():
            per_target[head.strip()] = _parse_one(rest, item)
        else:
            plain.append(_parse_one(item, item))
    if plain and (per_target or len(plain) > 1):
        raise ValueError(f"--class-weight given several times ({', '.join(items)}): give one spec for every "
                         "target, or one TARGET:SPEC per target")
    return plain[0] if plain else per_target


def _parse_one(text: str, item: str) -> ClassWeightSpec:
    text = text.strip()
    if text == BALANCED:
        return BALANCED
    weights: dict[str, float] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = pair.rpartition("=")
        number = to_float(value) if sep and name.strip() else None
        if number is None:
            raise ValueError(f"--class-weight {item!r}: expected 'balanced' or CLASS=VALUE pairs joined by commas "
                             f"(e.g. rare=5,common=1), got {pair!r}")
        weights[name.strip()] = number
    if not weights:
        raise ValueError(f"--class-weight {item!r}: expected 'balanced' or CLASS=VALUE pairs joined by commas")
    return weights


def resolve_class_weights(spec: ClassWeightSpec | None, encoders: Mapping[str, TargetEncoder],
                          train_targets: Mapping[str, Tensor]) -> dict[str, dict[str, float]] | None:
    """``{target: {class: weight}}`` for ``spec`` over the fitted target ``encoders``, ``balanced`` counted on
    the encoded ``train_targets`` (the rows that hold each label). An error names an unknown target or
    class, or a target that is not a classification target."""
    if spec is None:
        return None
    spec = cast(ClassWeightSpec, check_class_weight_spec(spec))
    if isinstance(spec, Mapping) and is_per_target(spec):
        unknown = sorted(set(spec) - set(encoders))
        if unknown:
            raise ValueError(f"class_weight given for unknown target(s) {unknown}; targets: {sorted(encoders)}")
        per_target = dict(spec)
    elif spec == BALANCED:
        per_target = {n: BALANCED for n, e in encoders.items() if e.task in CLASS_TASKS}
        if not per_target:
            raise ValueError(f"class_weight 'balanced' needs a binary or multiclass target; targets: "
                             f"{', '.join(f'{n} ({e.task.value})' for n, e in encoders.items())}")
    elif len(encoders) == 1:
        per_target = {next(iter(encoders)): spec}
    else:
        raise ValueError(f"class_weight {{class: weight}} is ambiguous with several targets ({sorted(encoders)}): "
                         "give it per target, {target: spec} (--class-weight TARGET:CLASS=VALUE,...)")
    return {name: _resolve_one(name, one, encoders[name], train_targets[name]) for name, one in per_target.items()}


def _resolve_one(name: str, spec: ClassWeightSpec, encoder: TargetEncoder, encoded: Tensor) -> dict[str, float]:
    if encoder.task not in CLASS_TASKS:
        raise ValueError(f"class weights apply to binary and multiclass targets; target {name!r} is "
                         f"{encoder.task.value}")
    classes = [str(c) for c in encoder.classes_]
    if spec == BALANCED:
        codes = encoded[target_present(encoder.task, encoded)].reshape(-1).long()
        counts = np.bincount(codes.numpy(), minlength=len(classes)).astype(np.float64)
        n = counts.sum()
        return {c: float(n / (len(classes) * k)) if k else 1.0 for c, k in zip(classes, counts)}
    spec = cast(Mapping[str, float], spec)  # a per-class mapping here: the per-target level was taken apart
    unknown = [k for k in spec if k not in classes]
    if unknown:
        raise ValueError(f"class_weight of target {name!r} names unknown class(es) {unknown}; its classes: "
                         f"{classes}")
    return {c: float(spec.get(c, 1.0)) for c in classes}


def class_weight_tensor(weights: Mapping[str, float], encoder: TargetEncoder) -> Tensor:
    """A resolved ``{class: weight}`` as a tensor in the encoder's class order."""
    return torch.tensor([float(weights.get(str(c), 1.0)) for c in encoder.classes_], dtype=torch.float32)


__all__ = ["BALANCED", "SAMPLE_WEIGHT", "check_class_weight_spec", "class_weight_tensor", "parse_class_weight",
           "resolve_class_weights", "sample_weight_summary", "sample_weight_values", "sample_weights",
           "with_sample_weights"]
