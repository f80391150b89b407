"""The covariances of the CCA family equal numpy's, by the mean-corrected Gram products and by centred row blocks,
for every memory order and both precisions."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.multiview._blocks import column_mean, covariances, joint_covariance

RNG = np.random.default_rng(0)


def views(offset: float) -> tuple[np.ndarray, np.ndarray]:
    X = RNG.standard_normal((300, 6)) + offset
    Y = np.c_[X[:, :2] @ RNG.standard_normal((2, 3)), RNG.standard_normal((300, 2))] + offset
    return X, Y


# offset 0.5: the corrected Gram products; offset 100: E[x^2] / var far above the limit, so the views are centred
@pytest.mark.parametrize("offset", [0.5, 100.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("order", ["C", "F"])
def test_covariances_equal_numpy(offset: float, dtype: type[np.floating], order: str) -> None:
    X64, Y64 = views(offset)
    X, Y = (np.asarray(v, dtype=dtype, order=order) for v in (X64, Y64))
    expected = np.cov(np.c_[X, Y].astype(np.float64), rowvar=False)
    cxx, cyy, cxy = covariances(X, Y, column_mean(X), column_mean(Y))
    tol = 1e-10 if dtype == np.float64 else 1e-4
    for got, want in ((cxx, expected[:6, :6]), (cyy, expected[6:, 6:]), (cxy, expected[:6, 6:])):
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, want, atol=tol)
    np.testing.assert_array_equal(cxx, cxx.T)
    joint = joint_covariance([X, Y], [column_mean(X), column_mean(Y)])
    np.testing.assert_allclose(joint, expected, atol=tol)
