"""Coherence of generated samples: does a classifier of the real modality recognise what was asked for?

A sample of modality B generated from a row's modality A is *coherent* when a classifier trained with
polymodal on real B (e.g. a digit classifier on MNIST images) predicts the label of the source row.
Coherence is that classifier's accuracy on the generated samples; compare it with chance and with the
classifier's accuracy on the real B of the same rows.

Example
-------
>>> coherence_scores(["3", "1", "2"], [3, 1, 1], n_classes=10)
{'coherence': 0.6666666666666666, 'n': 3, 'chance': 0.1, 'majority': 0.6666666666666666}
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from polymodal.data.table import read_table
from polymodal.predictor import Predictor, TableLike


def _as_labels(values: ArrayLike) -> np.ndarray:
    """Labels as comparable strings: ``3``, ``3.0`` and ``"3"`` are the same label."""
    out = []
    for v in np.asarray(values, dtype=object).ravel():
        if isinstance(v, float | np.floating) and float(v).is_integer():
            v = int(v)
        out.append(str(v))
    return np.asarray(out, dtype=object)


def coherence_scores(predicted: ArrayLike, labels: ArrayLike, n_classes: int | None = None) -> dict[str, Any]:
    """``coherence`` (share of predictions equal to the label), ``n``, ``chance`` (``1 / n_classes``, when
    given) and ``majority`` (the share of the most frequent label: what always predicting it scores)."""
    pred, true = _as_labels(predicted), _as_labels(labels)
    if len(pred) != len(true):
        raise ValueError(f"{len(pred)} prediction(s) but {len(true)} label(s)")
    if len(true) == 0:
        raise ValueError("no generated samples to score")
    _, counts = np.unique(true, return_counts=True)
    scores: dict[str, Any] = {"coherence": float((pred == true).mean()), "n": len(true)}
    if n_classes is not None:
        scores["chance"] = 1.0 / n_classes
    scores["majority"] = float(counts.max() / len(true))
    return scores


def generation_coherence(classifier: Predictor | str | Path, generated: TableLike, label_column: str,
                         target: str | None = None) -> dict[str, Any]:
    """Coherence of the samples in ``generated`` (e.g. the index written by :func:`polymodal.generation.generate`)
    judged by ``classifier`` (a :class:`~polymodal.predictor.Predictor` or the path of its bundle) against
    the table's ``label_column`` (the source rows' labels); ``target`` is the classifier's target (its
    first by default). The table must hold the columns the classifier reads."""
    predictor = classifier if isinstance(classifier, Predictor) else Predictor.load(classifier)
    name = target or predictor.targets[0]
    if name not in predictor.targets:
        raise ValueError(f"the classifier has no target {name!r}; its targets: {predictor.targets}")
    tbl = read_table(generated)
    if label_column not in tbl.frame.columns:
        raise ValueError(f"label column {label_column!r} is not in the generated table; columns: "
                         f"{', '.join(map(str, tbl.frame.columns))}")
    predictions = predictor.predict(tbl)
    labels = tbl.frame[label_column].to_numpy()[predictions["row"].to_numpy()]
    return coherence_scores(predictions[name].to_numpy(), labels, len(predictor.pipeline.targets[name].classes_))


def per_class_coherence(predicted: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """Coherence per source label (``{label: share predicted as that label}``), labels in sorted order."""
    pred, true = _as_labels(predicted), _as_labels(labels)
    classes: Sequence[str] = sorted(set(true.tolist()))
    return {c: float((pred[true == c] == c).mean()) for c in classes}
