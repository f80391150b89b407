"""PPMI against a direct dense computation of the formula."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from sklearn.utils.estimator_checks import check_estimator

from polymodal.multiview import PPMI, ppmi


def reference(C: np.ndarray, alpha: float, shift: float) -> np.ndarray:
    out = np.zeros_like(C)
    total = C.sum()
    ctx = C.sum(axis=0) ** alpha
    for i in range(C.shape[0]):
        for j in range(C.shape[1]):
            if C[i, j] > 0:
                pmi = np.log((C[i, j] / total) / ((C[i].sum() / total) * (ctx[j] / ctx.sum()))) - np.log(shift)
                out[i, j] = max(pmi, 0.0)
    return out


@pytest.mark.parametrize(("alpha", "shift"), [(1.0, 1.0), (0.75, 1.0), (0.75, 2.0)])
def test_matches_the_formula(alpha: float, shift: float) -> None:
    C = np.random.default_rng(0).poisson(1.5, size=(6, 5)).astype(float)
    np.testing.assert_allclose(ppmi(C, alpha=alpha, shift=shift), reference(C, alpha, shift), atol=1e-12)
    out = ppmi(sparse.csr_matrix(C), alpha=alpha, shift=shift)
    assert sparse.issparse(out)
    np.testing.assert_allclose(out.toarray(), reference(C, alpha, shift), atol=1e-12)


def test_transformer_weighs_new_rows_with_the_training_contexts() -> None:
    C = np.random.default_rng(1).poisson(2.0, size=(8, 4)).astype(float)
    model = PPMI(alpha=0.75).fit(C)
    np.testing.assert_allclose(model.transform(C), ppmi(C, alpha=0.75), atol=1e-12)
    np.testing.assert_allclose(model.transform(C[:3]), ppmi(C, alpha=0.75)[:3], atol=1e-12)


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        ppmi(np.array([[1.0, -1.0]]))


def test_passes_sklearn_check_estimator() -> None:
    check_estimator(PPMI())
