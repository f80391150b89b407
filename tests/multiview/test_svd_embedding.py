"""SVDEmbedding against numpy's SVD."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from sklearn.utils.estimator_checks import check_estimator

from polymodal.multiview import SVDEmbedding


def test_embeddings_match_numpy_svd() -> None:
    M = np.random.default_rng(0).random((12, 8))
    U, s, Vt = np.linalg.svd(M)
    model = SVDEmbedding(n_components=3, eig_weight=0.5, algorithm="randomized", random_state=0).fit(
        sparse.csr_matrix(M)
    )
    np.testing.assert_allclose(model.singular_values_, s[:3], rtol=1e-8)
    # equal up to a sign per component
    signs = np.sign(np.sum(model.embedding_ * U[:, :3], axis=0))
    np.testing.assert_allclose(model.embedding_, U[:, :3] * np.sqrt(s[:3]) * signs, atol=1e-8)
    np.testing.assert_allclose(model.column_embedding_, Vt[:3].T * np.sqrt(s[:3]) * signs, atol=1e-8)


def test_fold_in_reproduces_training_rows_and_normalize() -> None:
    M = np.random.default_rng(1).random((10, 6))
    model = SVDEmbedding(n_components=4, eig_weight=0.0, algorithm="exact", normalize=True).fit(M)
    np.testing.assert_allclose(model.transform(M[:4]), model.embedding_[:4], atol=1e-10)
    np.testing.assert_allclose(np.linalg.norm(model.embedding_, axis=1), 1.0)


def test_too_many_components_is_refused() -> None:
    with pytest.raises(ValueError, match="at most min"):
        SVDEmbedding(n_components=5).fit(np.ones((3, 4)))


def test_passes_sklearn_check_estimator() -> None:
    check_estimator(SVDEmbedding(n_components=1, random_state=0))
