import pytest
import torch

from polymodal.losses.experts import mixture_of_experts_sample, product_of_experts


def test_product_of_experts_is_the_precision_weighted_mean() -> None:
    # per dimension: experts N(2, 1) and N(-1, 0.5), plus the prior N(0, 1)
    mus = {"a": torch.tensor([[2.0]]), "b": torch.tensor([[-1.0]])}
    logvars = {"a": torch.tensor([[0.0]]), "b": torch.log(torch.tensor([[0.5]]))}
    masks = {"a": torch.tensor([True]), "b": torch.tensor([True])}
    mu, logvar = product_of_experts(mus, logvars, masks)
    # precisions 1 + 2 + 1 = 4; mean = (1 * 2 + 2 * -1 + 1 * 0) / 4 = 0
    assert float(logvar.exp()) == pytest.approx(0.25)
    assert float(mu) == pytest.approx(0.0, abs=1e-6)
    mu, logvar = product_of_experts(mus, logvars, masks, prior=False)
    # precisions 1 + 2 = 3; mean = (2 - 2) / 3 = 0
    assert float(logvar.exp()) == pytest.approx(1 / 3)
    assert float(mu) == pytest.approx(0.0, abs=1e-6)


def test_a_missing_expert_takes_no_part() -> None:
    torch.manual_seed(0)
    mus = {"a": torch.randn(3, 2), "b": torch.randn(3, 2)}
    logvars = {"a": torch.randn(3, 2), "b": torch.randn(3, 2)}
    masks = {"a": torch.tensor([True, True, False]), "b": torch.tensor([True, False, False])}
    mu, logvar = product_of_experts(mus, logvars, masks)
    only_a, only_a_lv = product_of_experts({"a": mus["a"]}, {"a": logvars["a"]}, {"a": masks["a"]})
    assert torch.allclose(mu[1], only_a[1]) and torch.allclose(logvar[1], only_a_lv[1])
    assert torch.allclose(mu[2], torch.zeros(2)) and torch.allclose(logvar[2], torch.zeros(2))  # the prior
    mu, logvar = product_of_experts(mus, logvars, masks, prior=False)
    assert torch.allclose(mu[2], torch.zeros(2)) and torch.allclose(logvar[2], torch.zeros(2))
    # the order of the mapping does not matter
    mu_rev, _ = product_of_experts(dict(reversed(mus.items())), logvars, masks)
    assert torch.equal(mu_rev, product_of_experts(mus, logvars, masks)[0])


def test_mixture_of_experts_samples_only_present_experts() -> None:
    n = 4000
    mus = {"a": torch.full((n, 1), -10.0), "b": torch.full((n, 1), 10.0)}
    logvars = {"a": torch.full((n, 1), -20.0), "b": torch.full((n, 1), -20.0)}
    b_present = torch.arange(n) % 2 == 0
    masks = {"a": torch.ones(n, dtype=torch.bool), "b": b_present}
    z, chosen = mixture_of_experts_sample(mus, logvars, masks, generator=torch.Generator().manual_seed(0))
    assert (chosen[~b_present] == 0).all()  # only "a" is present there
    assert torch.allclose(z[chosen == 0], torch.tensor(-10.0), atol=1e-3)
    assert torch.allclose(z[chosen == 1], torch.tensor(10.0), atol=1e-3)
    share_b = float((chosen[b_present] == 1).float().mean())
    assert share_b == pytest.approx(0.5, abs=0.05)  # uniform over the present experts
    none = {"a": torch.zeros(n, dtype=torch.bool), "b": torch.zeros(n, dtype=torch.bool)}
    _, chosen = mixture_of_experts_sample(mus, logvars, none)
    assert (chosen == -1).all()
