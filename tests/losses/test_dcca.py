import numpy as np
import pytest
import torch

from polymodal.losses.dcca import BatchTooSmallError, DCCALoss, dcca_loss
from polymodal.multiview import CCA
from polymodal.multiview._base import column_correlations


def _views(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 2))
    x = np.c_[z, rng.standard_normal((n, 2))] @ rng.standard_normal((4, 4))
    y = np.c_[z + 0.5 * rng.standard_normal((n, 2)), rng.standard_normal((n, 1))] @ rng.standard_normal((3, 3))
    return x, y


def test_minus_dcca_loss_is_the_sum_of_cca_correlations() -> None:
    x, y = _views()
    cca = CCA(n_components=3, reg=0.0).fit(x, y)
    xs, ys = cca.transform(x, y)
    reference = column_correlations(xs, ys).sum()
    loss = dcca_loss(torch.tensor(x), torch.tensor(y), reg=0.0)
    assert -float(loss) == pytest.approx(reference, abs=1e-4)
    top2 = dcca_loss(torch.tensor(x), torch.tensor(y), reg=0.0, n_components=2)
    assert -float(top2) == pytest.approx(column_correlations(xs, ys)[:2].sum(), abs=1e-4)


def test_gradient_flows_and_is_finite() -> None:
    x, y = _views(n=64)
    hx = torch.tensor(x, dtype=torch.float32, requires_grad=True)
    hy = torch.tensor(y, dtype=torch.float32, requires_grad=True)
    out = DCCALoss(reg=1e-3)(hx, hy)
    out.total.backward()
    assert hx.grad is not None and hy.grad is not None
    assert torch.isfinite(hx.grad).all() and torch.isfinite(hy.grad).all()
    assert hx.grad.abs().sum() > 0
    assert float(out.components["correlation"]) == pytest.approx(-float(out.total))


def test_a_batch_not_larger_than_the_latent_is_a_clear_error() -> None:
    with pytest.raises(BatchTooSmallError, match=r"batch of 8 is too small for a latent of size 8: use a batch of "
                                                 r"at least 9"):
        dcca_loss(torch.randn(8, 8), torch.randn(8, 4))
