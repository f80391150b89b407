"""MCCA against scipy's generalised eigenproblem and against two-view CCA."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import linalg
from sklearn.utils.estimator_checks import check_estimator

from polymodal.multiview import CCA, MCCA
from tests.multiview.test_cca import two_views


def three_views(n: int = 300, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 2))
    return [
        np.c_[z, rng.standard_normal((n, p - 2))] @ rng.standard_normal((p, p)) + 0.3 * rng.standard_normal((n, p))
        for p in (4, 5, 3)
    ]


def test_eigenvalues_match_scipy_generalised_eigenproblem() -> None:
    views = three_views()
    C = np.cov(np.hstack(views), rowvar=False)
    edges = np.cumsum([0, 4, 5, 3])
    D = linalg.block_diag(*(C[a:b, a:b] for a, b in itertools.pairwise(edges)))
    reference = linalg.eigh(C, D, eigvals_only=True)[::-1][:3]
    np.testing.assert_allclose(MCCA(n_components=3).fit(views).eigenvalues_, reference, atol=1e-8)


def test_two_views_is_cca() -> None:
    X, Y = two_views()
    mcca = MCCA(n_components=4).fit([X, Y])
    cca = CCA(n_components=4).fit(X, Y)
    np.testing.assert_allclose(mcca.eigenvalues_ - 1.0, cca.canonical_correlations_, atol=1e-10)
    np.testing.assert_allclose(mcca.canonical_correlations_, cca.canonical_correlations_, atol=1e-10)
    xs, _ys = mcca.transform([X, Y])
    np.testing.assert_allclose(np.abs(xs.T @ cca.transform(X)) / (len(X) - 1), np.eye(4), atol=1e-8)


def test_shared_signal_is_found_in_every_view() -> None:
    views = three_views()
    mcca = MCCA(n_components=2).fit(views)
    scores = mcca.transform(views)
    assert mcca.canonical_correlations_.min() > 0.9
    for s in scores:
        np.testing.assert_allclose(s.var(axis=0, ddof=1), 1.0, atol=1e-10)


def test_errors_name_the_problem() -> None:
    views = three_views()
    with pytest.raises(TypeError, match="list of views"):
        MCCA().fit(views[0])
    with pytest.raises(ValueError, match="at least 2 views"):
        MCCA().fit(views[:1])
    with pytest.raises(ValueError, match="same number of samples"):
        MCCA().fit([views[0], views[1][:10]])
    with pytest.raises(ValueError, match="fitted with"):
        MCCA(1).fit(views).transform([views[0], views[2], views[1]])


def test_sklearn_checks_that_apply_pass() -> None:
    check_estimator(MCCA(n_components=1), expected_failed_checks=MCCA._NOT_APPLICABLE_CHECKS)


def test_rank_deficient_views_are_exact() -> None:
    views = three_views()
    padded = [np.c_[views[0], views[0][:, :2], np.zeros(len(views[0]))], *views[1:]]
    np.testing.assert_allclose(MCCA(2).fit(padded).eigenvalues_, MCCA(2).fit(views).eigenvalues_, atol=1e-9)


@pytest.mark.parametrize("reg", [0.0, 0.2])
def test_inverse_transform_is_the_least_squares_reconstruction(reg: float) -> None:
    views = three_views()
    mcca = MCCA(n_components=2, reg=reg).fit(views)
    train_scores = mcca.transform(views)
    new = [v[:6] * 1.5 for v in views]
    new_scores = mcca.transform(new)
    for rec, s, t, v in zip(mcca.inverse_transform(new_scores), new_scores, train_scores, views):
        loadings = np.linalg.lstsq(t, v - v.mean(axis=0), rcond=None)[0]  # by hand
        np.testing.assert_allclose(rec, s @ loadings + v.mean(axis=0), atol=1e-9)


def test_inverse_transform_is_exact_with_all_components() -> None:
    rng = np.random.default_rng(3)
    z = rng.standard_normal((200, 3))
    views = [z @ rng.standard_normal((3, 3)) + rng.standard_normal((200, 3)) + 2.0 for _ in range(3)]
    mcca = MCCA(n_components=3).fit(views)
    for rec, v in zip(mcca.inverse_transform(mcca.transform(views)), views):
        np.testing.assert_allclose(rec, v, atol=1e-9)


def test_inverse_transform_names_bad_scores() -> None:
    views = three_views()
    mcca = MCCA(n_components=2).fit(views)
    with pytest.raises(ValueError, match=r"takes a list of 3 score arrays .* of length 2"):
        mcca.inverse_transform(mcca.transform(views)[:2])
    with pytest.raises(ValueError, match=r"scores\[1\] has 3 columns, but MCCA was fitted with 2 components"):
        mcca.inverse_transform([np.zeros((4, 2)), np.zeros((4, 3)), np.zeros((4, 2))])


def test_float32_views_are_solved_in_float32_at_float32_accuracy() -> None:
    # float32 views: float32 products and a float32 eigenproblem (the factors stay float64); the
    # correlations of the weights found agree with float64's to float32 precision.
    views = three_views(n=2000)
    views32 = [v.astype(np.float32) for v in views]
    ref = MCCA(n_components=3).fit([v.astype(np.float64) for v in views32])
    mcca = MCCA(n_components=3).fit(views32)
    assert all(w.dtype == np.float32 for w in mcca.weights_)
    assert all(s.dtype == np.float32 for s in mcca.transform(views32))
    np.testing.assert_allclose(mcca.canonical_correlations_, ref.canonical_correlations_, atol=2e-5)
