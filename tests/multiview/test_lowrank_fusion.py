"""LowRankFusion against an explicit eigendecomposition of the fused n x n matrix."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.multiview import LowRankFusion


def matrices(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    shared = rng.standard_normal((30, 2))
    return [
        np.c_[shared, rng.standard_normal((30, 2))] @ rng.standard_normal((4, d)) * scale
        for d, scale in ((7, 1.0), (5, 100.0), (6, 0.1))
    ]


def explicit(mats: list[np.ndarray], weights: np.ndarray, rank: int, method: str) -> tuple[np.ndarray, np.ndarray]:
    fused = np.zeros((30, 30))
    for M, w in zip(mats, weights / weights.sum()):
        U, s, _ = np.linalg.svd(M, full_matrices=False)
        U, s = U[:, :rank], s[:rank]
        fused += w * (U @ U.T if method == "vote" else (U * s**2) @ U.T / np.sum(s**2))
    vals, vecs = np.linalg.eigh(fused)
    return vals[::-1], vecs[:, ::-1]


@pytest.mark.parametrize("method", ["average", "vote"])
def test_matches_explicit_fused_matrix(method: str) -> None:
    mats, weights = matrices(), np.array([1.0, 2.0, 1.0])
    model = LowRankFusion(n_components=3, rank=3, method=method, weights=weights, algorithm="exact").fit(mats)
    vals, vecs = explicit(mats, weights, 3, method)
    np.testing.assert_allclose(model.eigenvalues_, vals[:3], atol=1e-10)
    E = model.embedding_
    np.testing.assert_allclose(E @ E.T, (vecs[:, :3] * vals[:3]) @ vecs[:, :3].T, atol=1e-10)


def test_scale_of_a_matrix_does_not_matter() -> None:
    mats = matrices()
    base = LowRankFusion(n_components=2, algorithm="exact").fit(mats).embedding_
    rescaled = LowRankFusion(n_components=2, algorithm="exact").fit([mats[0] * 1e4, *mats[1:]]).embedding_
    np.testing.assert_allclose(np.abs(rescaled), np.abs(base), atol=1e-10)


def test_vote_agreement_is_one_for_a_shared_subspace() -> None:
    mats = matrices()
    model = LowRankFusion(n_components=2, rank=4, method="vote", algorithm="exact").fit(mats)
    np.testing.assert_allclose(model.agreement_, 1.0, atol=1e-8)


def test_errors_name_the_problem() -> None:
    mats = matrices()
    with pytest.raises(TypeError, match="list of matrices"):
        LowRankFusion().fit(mats[0])
    with pytest.raises(ValueError, match="share their rows"):
        LowRankFusion(2).fit([mats[0], mats[1][:5]])
    with pytest.raises(ValueError, match="weights must be 3 non-negative"):
        LowRankFusion(2, weights=[1.0, -1.0, 1.0]).fit(mats)
