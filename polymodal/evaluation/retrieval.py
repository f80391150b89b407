"""Cross-modal retrieval and linear probes: how good a learned representation is.

:func:`retrieval_scores` ranks a gallery for every query by cosine similarity and reports recall@k and
the median rank of the first hit. A hit is the query's paired item (the gallery row with the same
index), or, when ``labels`` are given (pairs made by label, as in AV-digits), any gallery item with the
query's label. :func:`linear_probe` fits a logistic regression on frozen embeddings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike


def _normalise(z: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(z, axis=1, keepdims=True)
    return z / np.maximum(norms, 1e-12)


def first_hit_ranks(query: ArrayLike, gallery: ArrayLike, labels: ArrayLike | None = None,
                    gallery_labels: ArrayLike | None = None, chunk: int = 1024) -> np.ndarray:
    """The 1-based rank of the first hit in the gallery for every query (cosine similarity, ties broken
    against the query: an item scored equal to the hit counts as ranked before it)."""
    q, g = _normalise(np.asarray(query, dtype=np.float64)), _normalise(np.asarray(gallery, dtype=np.float64))
    if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
        raise ValueError(f"query {q.shape} and gallery {g.shape} must be 2-D with the same width")
    if labels is None and len(q) != len(g):
        raise ValueError(f"paired retrieval needs as many queries as gallery items, got {len(q)} and {len(g)}")
    ql = None if labels is None else np.asarray(labels)
    gl = None if labels is None else np.asarray(gallery_labels if gallery_labels is not None else labels)
    ranks = np.empty(len(q), dtype=np.int64)
    for start in range(0, len(q), chunk):
        sims = q[start:start + chunk] @ g.T
        for i, row in enumerate(sims, start=start):
            hits = np.array([i]) if ql is None else np.flatnonzero(gl == ql[i])
            if len(hits) == 0:
                label = ql[i].item() if hasattr(ql[i], "item") else ql[i]  # type: ignore[index]
                raise ValueError(f"query {i} has no item of its label {label!r} in the gallery")
            best = row[hits].max()
            ranks[i] = int((row > best).sum() + (row[np.setdiff1d(np.arange(len(row)), hits)] == best).sum()) + 1
    return ranks


def retrieval_scores(query: ArrayLike, gallery: ArrayLike, labels: ArrayLike | None = None,
                     gallery_labels: ArrayLike | None = None, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``recall@k`` for every k, ``median_rank`` and ``mean_rank`` of the first hit, and ``n`` queries (an int).

    Example
    -------
    >>> z = np.eye(3)
    >>> retrieval_scores(z, z, ks=(1,))
    {'recall@1': 1.0, 'median_rank': 1.0, 'mean_rank': 1.0, 'n': 3}
    """
    ranks = first_hit_ranks(query, gallery, labels, gallery_labels)
    out = {f"recall@{k}": float((ranks <= k).mean()) for k in ks}
    out.update(median_rank=float(np.median(ranks)), mean_rank=float(ranks.mean()), n=len(ranks))
    return out


def linear_probe(train_z: ArrayLike, train_y: ArrayLike, test_z: ArrayLike, test_y: ArrayLike,
                 c: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """Accuracy of a logistic regression (standardised inputs, L2 strength ``1/c``) trained on frozen
    embeddings ``train_z`` and scored on ``test_z``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    ytr, yte = np.asarray(train_y), np.asarray(test_y)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000, random_state=seed))
    model.fit(np.asarray(train_z), ytr)
    predicted = model.predict(np.asarray(test_z))
    return {"accuracy": float((predicted == yte).mean()), "n_train": len(ytr), "n_test": len(yte)}


def cross_modal_retrieval(pretrained: Any, table: Any, from_modality: str, to_modality: str,
                          label_column: str | None = None, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Retrieve ``to_modality`` items from ``from_modality`` queries with a pretrained representation
    (:class:`polymodal.pretrained.PretrainedModel`), over the rows that have both modalities."""
    from polymodal.data.table import read_table

    tbl = read_table(table)
    data = pretrained.encode_table(tbl)
    for name in (from_modality, to_modality):
        if name not in data.masks:
            raise ValueError(f"unknown modality {name!r}; the model's modalities: {sorted(data.masks)}")
    both = (data.masks[from_modality].bool() & data.masks[to_modality].bool()).numpy()
    keep = np.flatnonzero(both)
    if len(keep) == 0:
        raise ValueError(f"no row has both {from_modality!r} and {to_modality!r}")
    data = data.subset(keep)
    queries = pretrained.embed(data, modalities=[from_modality])
    gallery = pretrained.embed(data, modalities=[to_modality])
    labels = None
    if label_column is not None:
        if label_column not in tbl.frame:
            raise ValueError(f"label column {label_column!r} is not in the table")
        labels = tbl.frame[label_column].to_numpy()[np.asarray(data.rows)]
    return retrieval_scores(queries, gallery, labels, ks=ks)
