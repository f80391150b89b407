import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from polymodal.losses.gaussian import kl_diagonal, kl_standard_normal, reparameterize


def test_kl_to_the_standard_normal_matches_the_closed_form() -> None:
    # 1-D: KL(N(1, 4) || N(0, 1)) = 0.5 * (4 + 1 - 1 - log 4) = 2 - log 2
    mu, logvar = torch.tensor([[1.0]]), torch.tensor([[math.log(4.0)]])
    assert float(kl_standard_normal(mu, logvar)[0]) == pytest.approx(2.0 - math.log(2.0), abs=1e-6)
    torch.manual_seed(0)
    mu, logvar = torch.randn(5, 3), torch.randn(5, 3)
    reference = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(kl_standard_normal(mu, logvar), reference, atol=1e-5)


def test_kl_between_diagonal_gaussians_matches_the_closed_form() -> None:
    # 1-D: KL(N(1, 1) || N(3, 4)) = 0.5 * (log 4 - 0 + (1 + 4) / 4 - 1) = log 2 + 0.125
    value = kl_diagonal(torch.tensor([[1.0]]), torch.tensor([[0.0]]), torch.tensor([[3.0]]),
                        torch.tensor([[math.log(4.0)]]))
    assert float(value[0]) == pytest.approx(math.log(2.0) + 0.125, abs=1e-6)
    torch.manual_seed(1)
    mq, lq, mp, lp = (torch.randn(4, 6) for _ in range(4))
    reference = kl_divergence(Normal(mq, (0.5 * lq).exp()), Normal(mp, (0.5 * lp).exp())).sum(-1)
    assert torch.allclose(kl_diagonal(mq, lq, mp, lp), reference, atol=1e-5)
    assert torch.allclose(kl_diagonal(mq, lq, torch.zeros(4, 6), torch.zeros(4, 6)), kl_standard_normal(mq, lq))


def test_reparameterize_has_the_right_moments_and_gradient() -> None:
    torch.manual_seed(0)
    mu = torch.full((20000, 1), 2.0, requires_grad=True)
    logvar = torch.full((20000, 1), math.log(9.0), requires_grad=True)
    z = reparameterize(mu, logvar)
    assert float(z.mean()) == pytest.approx(2.0, abs=0.1)
    assert float(z.std()) == pytest.approx(3.0, abs=0.1)
    z.sum().backward()
    assert mu.grad is not None and logvar.grad is not None
