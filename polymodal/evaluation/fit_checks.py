"""Does a fit say anything? A model at chance level, predicting one class, or trained for a handful of
optimiser steps is reported as such, with the likely cause, instead of a table of numbers that look fine.

Example
-------
>>> fit_warnings({"y": {"accuracy": 0.75}}, {"y": ClassCounts([30, 10], [40, 0], ["a", "b"])},
...              steps=9, epochs=3, rows=120, lr=1e-3)[0]  # doctest: +ELLIPSIS
"target 'y': the model predicts one class ('a') for every validation row..."
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from torch import Tensor

from polymodal.data.dataset import EncodedData
from polymodal.data.schema import TaskKind
from polymodal.data.targets import TargetEncoder

MIN_STEPS = 50  # fewer optimiser steps than this rarely train a model from scratch
CHANCE_MARGIN = 0.02  # accuracy within this of the most frequent class's share is chance level


@dataclass(frozen=True)
class ClassCounts:
    """Per class (in ``classes`` order): validation rows of that label, and rows predicted as it."""

    true: list[int]
    predicted: list[int]
    classes: list[str]


class ClassCounter:
    """Label and prediction counts of each single-label classification target, added chunk by chunk
    (``add(data, logits)``; rows whose label is missing are left out)."""

    def __init__(self, encoders: Mapping[str, TargetEncoder]) -> None:
        self.encoders = {n: e for n, e in encoders.items() if e.task in (TaskKind.BINARY, TaskKind.MULTICLASS)}
        self._counts = {n: (np.zeros(len(e.classes_), dtype=np.int64), np.zeros(len(e.classes_), dtype=np.int64))
                        for n, e in self.encoders.items()}

    def add(self, data: EncodedData, logits: Mapping[str, Tensor]) -> None:
        for name, encoder in self.encoders.items():
            k = len(encoder.classes_)
            true, pred = self._counts[name]
            labels = data.targets[name].reshape(-1).long().numpy()
            outputs = logits[name]
            guess = ((outputs.reshape(-1) > 0).long() if encoder.task is TaskKind.BINARY
                     else outputs.argmax(dim=-1)).numpy()
            keep = labels >= 0
            true += np.bincount(labels[keep], minlength=k)[:k]
            pred += np.bincount(guess[keep], minlength=k)[:k]

    def counts(self) -> dict[str, ClassCounts]:
        return {n: ClassCounts(t.tolist(), p.tolist(), [str(c) for c in self.encoders[n].classes_])
                for n, (t, p) in self._counts.items()}


def fit_warnings(validation: Mapping[str, Mapping[str, float]], counts: Mapping[str, ClassCounts], *,
                 steps: int, epochs: int, rows: int, lr: float) -> list[str]:
    """What is wrong with a fit's validation result, each with its likely cause: a classifier predicting one
    class for every row or scoring at chance (the most frequent class's share), a regressor no better than
    the mean (R² <= 0), training of fewer than :data:`MIN_STEPS` optimiser steps."""
    cause = (f"likely too few epochs ({epochs}) or rows ({rows} training rows) for the data, or a learning rate "
             f"({lr:g}) too high or too low: train longer (--epochs), on more rows, or try another --lr")
    found: list[str] = []
    for name, c in counts.items():
        total = sum(c.true)
        if total == 0:
            continue
        chance = max(c.true) / total
        accuracy = validation.get(name, {}).get("accuracy")
        if sum(p > 0 for p in c.predicted) == 1 and len(c.classes) > 1:
            only = c.classes[int(np.argmax(c.predicted))]
            found.append(f"target {name!r}: the model predicts one class ({only!r}) for every validation row "
                         f"(accuracy {accuracy if accuracy is not None else chance:.4f}, the share of that class); "
                         f"{cause}")
        elif accuracy is not None and accuracy <= chance + CHANCE_MARGIN:
            found.append(f"target {name!r}: validation accuracy {accuracy:.4f} is at chance level (the most "
                         f"frequent class is {chance:.4f} of the rows); {cause}")
    for name, values in validation.items():
        if name not in counts and "r2" in values and values["r2"] <= 0.0:
            found.append(f"target {name!r}: validation R² {values['r2']:.4f} is no better than predicting the "
                         f"mean; {cause}")
    if steps < MIN_STEPS:
        found.append(f"training took only {steps} optimiser step(s) (fewer than {MIN_STEPS}): the model has barely "
                     f"moved from its initial weights; {cause}")
    return found


__all__ = ["CHANCE_MARGIN", "MIN_STEPS", "ClassCounter", "ClassCounts", "fit_warnings"]
