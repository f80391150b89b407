"""How much each modality contributes: Shapley values of the modalities, for the task metric and per sample.

The fusion contract makes a missing modality well defined (its mask is False), so one trained model scores
every subset ``S`` of the modalities: the modalities outside ``S`` are masked as missing in every row (a row
already missing a modality of ``S`` stays missing it). ``v(S)`` is the metric on those outputs; the empty
set's ``v({})`` is the model's output with every modality masked (its answer to no input: for a middle fusion
the learned missing embeddings, for a late fusion a uniform guess). The Shapley value of modality ``i`` is

    phi_i = sum over S not holding i of  |S|! (M - |S| - 1)! / M!  * (v(S + i) - v(S))

so the values add up to ``v(all) - v({})`` (efficiency). Up to :data:`EXACT_MAX_MODALITIES` modalities every
subset is scored (exact); beyond, the mean of the marginal gains along ``permutations`` seeded random
orders of the modalities (each order also adds up to ``v(all) - v({})``).

Per sample, the same formula is applied to a per-sample quantity ``q(S)`` of each row:

- classification (binary, multiclass): the probability the model gives the row's true class;
- multilabel: the mean over labels of the probability of the row's true state (on or off);
- regression: the negative squared error in the target's original units (higher is better, as for the metric).

Beside the Shapley values, two plainer views of the same subset scores: each modality alone
(``single``: ``v({i})``) and each modality left out (``leave_one_out``: ``v(all - i)``).

Example
-------
>>> result = modality_contribution(predictor, "test.csv")             # doctest: +SKIP
>>> result.shapley                                                      # doctest: +SKIP
{'image': 0.31, 'text': 0.12}
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from polymodal.data.dataset import EncodedData
from polymodal.data.schema import TaskKind
from polymodal.evaluation.metrics import metric_inputs

if TYPE_CHECKING:
    from polymodal.data.targets import TargetEncoder
    from polymodal.predictor import Predictor

EXACT_MAX_MODALITIES = 8
DEFAULT_PERMUTATIONS = 64
JOIN = "+"  # joins modality names in a subset's key ("" is the empty set)
PER_SAMPLE_QUANTITY = {
    "classification": "probability of the true class",
    "multilabel": "mean probability of the true state of each label",
    "regression": "negative squared error (original units)",
}

Subset = frozenset[str]


@dataclass
class ModalityContribution:
    """Shapley values of the modalities of one target, and the single-modality and leave-one-out scores.

    ``per_sample`` is ``[N, M]``: each row's Shapley values of the per-sample quantity ``per_sample_quantity``
    (columns in the order of ``modalities``; rows in the order of ``rows``, positions in the user's table).
    ``subsets`` holds every scored subset (keys are names joined by ``+``; ``""`` is the empty set).
    """

    target: str
    metric: str
    modalities: list[str]
    full: float
    empty: float
    shapley: dict[str, float]
    single: dict[str, float]
    leave_one_out: dict[str, float]
    subsets: dict[str, float]
    exact: bool
    permutations: int | None
    per_sample_quantity: str
    per_sample: np.ndarray = field(repr=False)
    rows: np.ndarray = field(repr=False)

    def to_dict(self, per_sample: bool = True) -> dict[str, Any]:
        """JSON-able; ``per_sample`` includes each row's values (``{"rows": [...], "<modality>": [...]}``)."""
        out: dict[str, Any] = {
            "target": self.target, "metric": self.metric, "modalities": list(self.modalities),
            "full": self.full, "empty": self.empty, "shapley": self.shapley, "single": self.single,
            "leave_one_out": self.leave_one_out, "subsets": self.subsets,
            "method": "exact" if self.exact else f"{self.permutations} sampled permutations",
            "per_sample_quantity": self.per_sample_quantity,
            "per_sample_mean": {m: float(v) for m, v in zip(self.modalities, self.per_sample.mean(axis=0))}
            if len(self.per_sample) else {},
        }
        if per_sample:
            values = {m: [float(v) for v in self.per_sample[:, i]] for i, m in enumerate(self.modalities)}
            out["per_sample"] = {"rows": [int(r) for r in self.rows], **values}
        return out

    def table(self) -> list[dict[str, Any]]:
        """One row per modality: Shapley value, alone, left out (what ``polymodal explain`` prints)."""
        return [{"modality": m, "shapley": self.shapley[m], "alone": self.single[m],
                 "left out": self.leave_one_out[m]} for m in self.modalities]


def subset_key(subset: Sequence[str] | Subset, order: Sequence[str]) -> str:
    """The name of a subset: its modalities in ``order`` joined by ``+`` (``""`` for the empty set)."""
    return JOIN.join(m for m in order if m in subset)


def default_metric(task: TaskKind) -> str:
    """The task metric contributions are measured on: accuracy for classification, R2 for regression."""
    return "r2" if task is TaskKind.REGRESSION else "accuracy"


def per_sample_quantity(encoder: TargetEncoder, logits: Tensor, target: Tensor) -> np.ndarray:
    """The per-sample quantity of :mod:`this module <polymodal.evaluation.contribution>` ``[N]`` (float64)."""
    task = encoder.task
    if task is TaskKind.REGRESSION:
        error = (logits.squeeze(-1).double() - target.squeeze(-1).double()) * encoder.std_
        return (-(error**2)).numpy()
    probs, labels = metric_inputs(task, logits, target)
    if task is TaskKind.MULTILABEL:
        right = torch.where(labels.bool(), probs, 1 - probs)
        return right.double().mean(dim=1).numpy()
    return probs.double().gather(1, labels.view(-1, 1)).squeeze(1).numpy()


def _quantity_name(task: TaskKind) -> str:
    if task is TaskKind.REGRESSION:
        return PER_SAMPLE_QUANTITY["regression"]
    return PER_SAMPLE_QUANTITY["multilabel" if task is TaskKind.MULTILABEL else "classification"]


class SubsetScorer:
    """Scores subsets of modalities with one model: the metric and each row's quantity, cached by subset."""

    def __init__(self, predictor: Predictor, data: EncodedData, target: str, metric: str) -> None:
        if target not in predictor.pipeline.targets:
            raise ValueError(f"unknown target {target!r}; the model predicts {', '.join(predictor.targets)}")
        if target not in data.targets:
            raise ValueError(f"the table has no labels for target {target!r}: contributions need a labelled table")
        self.predictor, self.data, self.target, self.metric = predictor, data, target, metric
        self.encoder = predictor.pipeline.targets[target]
        self.names = [spec.name for spec in predictor.pipeline.schema.modalities]
        self.cache: dict[Subset, tuple[float, np.ndarray]] = {}

    def __call__(self, subset: Subset) -> tuple[float, np.ndarray]:
        if subset not in self.cache:
            masked = self.data.with_masks({n: torch.zeros_like(self.data.masks[n]) for n in self.names
                                           if n not in subset})
            logits = self.predictor.logits(masked)
            scores = self.predictor.score(logits, self.data.targets)[self.target]
            if self.metric not in scores:
                raise ValueError(f"unknown metric {self.metric!r} for target {self.target!r}; "
                                 f"known: {', '.join(scores)}")
            quantity = per_sample_quantity(self.encoder, logits[self.target], self.data.targets[self.target])
            self.cache[subset] = (float(scores[self.metric]), quantity)
        return self.cache[subset]


def exact_shapley(names: Sequence[str], value: Callable[[Subset], Any]) -> dict[str, Any]:
    """Shapley values of ``names`` from ``value(subset)`` (a float or an array), over every subset."""
    m = len(names)
    out: dict[str, Any] = {}
    for name in names:
        others = [n for n in names if n != name]
        total: Any = 0.0
        for size in range(m):
            weight = math.factorial(size) * math.factorial(m - size - 1) / math.factorial(m)
            for subset in combinations(others, size):
                s = frozenset(subset)
                total = total + weight * (value(s | {name}) - value(s))
        out[name] = total
    return out


def sampled_shapley(names: Sequence[str], value: Callable[[Subset], Any], permutations: int,
                    seed: int = 0) -> dict[str, Any]:
    """Shapley values estimated as the mean marginal gain along ``permutations`` seeded random orders."""
    if permutations < 1:
        raise ValueError(f"permutations must be 1 or more, got {permutations}")
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {n: 0.0 for n in names}
    for _ in range(permutations):
        present: Subset = frozenset()
        before = value(present)
        for index in rng.permutation(len(names)):
            present = present | {names[index]}
            after = value(present)
            out[names[index]] = out[names[index]] + (after - before)
            before = after
    return {n: v / permutations for n, v in out.items()}


def modality_contribution(
    predictor: Predictor,
    data: EncodedData,
    target: str | None = None,
    metric: str | None = None,
    *,
    permutations: int = DEFAULT_PERMUTATIONS,
    exact_max: int = EXACT_MAX_MODALITIES,
    seed: int = 0,
) -> ModalityContribution:
    """Shapley values of the modalities of ``predictor`` on the labelled encoded rows ``data``.

    ``target`` defaults to the first target, ``metric`` to :func:`default_metric`. Exact up to
    ``exact_max`` modalities, else ``permutations`` seeded random orders (``seed``).
    """
    target = target or predictor.targets[0]
    encoder = predictor.pipeline.targets.get(target)
    if encoder is None:
        raise ValueError(f"unknown target {target!r}; the model predicts {', '.join(predictor.targets)}")
    metric = metric or default_metric(encoder.task)
    scorer = SubsetScorer(predictor, data, target, metric)
    names = scorer.names
    exact = len(names) <= exact_max
    score_of: Callable[[Subset], float] = lambda s: scorer(s)[0]  # noqa: E731
    sample_of: Callable[[Subset], np.ndarray] = lambda s: scorer(s)[1]  # noqa: E731
    if exact:
        shapley, per_sample = exact_shapley(names, score_of), exact_shapley(names, sample_of)
    else:
        shapley = sampled_shapley(names, score_of, permutations, seed)
        per_sample = sampled_shapley(names, sample_of, permutations, seed)
    everything = frozenset(names)
    for name in names:  # the single and leave-one-out views (scored already when exact)
        scorer(frozenset({name}))
        scorer(everything - {name})
    return ModalityContribution(
        target=target, metric=metric, modalities=list(names), full=score_of(everything),
        empty=score_of(frozenset()), shapley={n: float(v) for n, v in shapley.items()},
        single={n: score_of(frozenset({n})) for n in names},
        leave_one_out={n: score_of(everything - {n}) for n in names},
        subsets={subset_key(s, names): v[0] for s, v in sorted(scorer.cache.items(), key=lambda kv: -len(kv[0]))},
        exact=exact, permutations=None if exact else permutations,
        per_sample_quantity=_quantity_name(encoder.task),
        per_sample=np.stack([np.asarray(per_sample[n], dtype=np.float64) * np.ones(len(data)) for n in names], axis=1)
        if names else np.zeros((len(data), 0)),
        rows=np.asarray(data.rows),
    )
