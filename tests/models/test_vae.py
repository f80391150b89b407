import math

import pytest
import torch

from polymodal.models.vae import MultimodalVAE

from .conftest import assert_finite_gradients, assert_missing_inputs_ignored, build, make_batch


@pytest.mark.parametrize("joint", ["poe", "moe", "mopoe"])
def test_elbo_gradients_embedding_and_masks(joint: str, batch) -> None:
    inputs, masks = batch
    model = build("vae", latent_dim=4, hidden_dim=8, joint=joint)
    masks["txt"][::3] = False
    out = model(inputs, masks)
    assert torch.isfinite(out.total) and all(torch.isfinite(v) for v in out.components.values())
    out.total.backward()
    assert_finite_gradients(model)
    model.eval()
    assert model.embed(inputs, masks).shape == (40, 4)
    assert_missing_inputs_ignored(model, "img")


def test_poe_embedding_is_the_product_of_the_present_experts() -> None:
    model = build("vae", latent_dim=4, hidden_dim=8, joint="poe").eval()
    inputs, masks = make_batch(5)
    mus, logvars = model.experts(inputs, masks)
    precision = 1 + sum(torch.exp(-lv) for lv in logvars.values())
    expected = sum(mu * torch.exp(-lv) for mu, lv in zip(mus.values(), logvars.values())) / precision
    assert torch.allclose(model.embed(inputs, masks), expected, atol=1e-5)


def test_moe_embedding_is_the_mean_of_the_present_experts() -> None:
    model = build("vae", latent_dim=4, hidden_dim=8, joint="moe").eval()
    inputs, masks = make_batch(5)
    masks["tab"][:2] = False
    mus, _ = model.experts(inputs, masks)
    expected = torch.where(masks["tab"].unsqueeze(1), (mus["img"] + mus["tab"] + mus["txt"]) / 3,
                           (mus["img"] + mus["txt"]) / 2)
    assert torch.allclose(model.embed(inputs, masks), expected, atol=1e-5)


def test_eval_loss_is_deterministic_and_kl_weighted_by_beta() -> None:
    inputs, masks = make_batch(10)
    model = build("vae", latent_dim=4, hidden_dim=8, beta=0.0).eval()
    out = model(inputs, masks)
    assert float(model(inputs, masks).total) == float(out.total)
    recon = sum(v for k, v in out.components.items() if k.startswith("recon_"))
    assert float(out.total) == pytest.approx(float(recon), rel=1e-5)


def test_generate_decodes_every_modality_from_a_subset() -> None:
    model = build("vae", latent_dim=4, hidden_dim=8).eval()
    assert isinstance(model, MultimodalVAE)
    inputs, masks = make_batch(6)
    generated = model.generate(inputs, masks, ["img"])
    assert {k: v.shape for k, v in generated.items()} == {k: v.shape for k, v in inputs.items()}
    changed = {**inputs, "tab": inputs["tab"] + 3.0}
    assert torch.equal(model.generate(changed, masks, ["img"])["tab"], generated["tab"])  # tab is not used
    with pytest.raises(ValueError, match=r"unknown: \['sound'\]"):
        model.generate(inputs, masks, ["sound"])


def test_unknown_joint_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown joint posterior 'sum'; valid: poe, moe, mopoe"):
        build("vae", joint="sum")


def test_translate_is_the_generation_of_one_modality_from_another() -> None:
    model = build("vae", latent_dim=4, hidden_dim=8).eval()
    inputs, masks = make_batch(6)
    assert torch.equal(model.translate(inputs, masks, "img", "tab"), model.generate(inputs, masks, ["img"])["tab"])
    with pytest.raises(ValueError, match="source and target are both 'img'"):
        model.translate(inputs, masks, "img", "img")


def test_balanced_likelihood_weighs_each_modality_as_the_largest() -> None:
    plain = build("vae", latent_dim=4, hidden_dim=8, joint="moe").eval()
    balanced = build("vae", latent_dim=4, hidden_dim=8, joint="moe", likelihood="balanced").eval()
    sizes = {n: math.prod(plain.decoders[n].shape) for n in plain.modalities}
    largest = max(sizes.values())
    assert balanced.likelihood_weights == pytest.approx({n: largest / s for n, s in sizes.items()})
    assert plain.likelihood_weights == dict.fromkeys(plain.modalities, 1.0)
    balanced.load_state_dict(plain.state_dict())
    inputs, masks = make_batch(6)
    mus, logvars = plain.experts(inputs, masks)
    name = plain.modalities[0]
    _, _, recon_plain = plain.elbo(mus[name], logvars[name], inputs, masks, masks[name])
    _, _, recon_balanced = balanced.elbo(mus[name], logvars[name], inputs, masks, masks[name])
    for n in plain.modalities:
        torch.testing.assert_close(recon_balanced[n], recon_plain[n] * largest / sizes[n])
    weighted = build("vae", latent_dim=4, hidden_dim=8, likelihood={"img": 2.0})
    assert weighted.likelihood_weights["img"] == 2.0 and weighted.likelihood_weights["txt"] == 1.0


@pytest.mark.parametrize("likelihood", ["mean", {"sound": 1.0}, {"img": -1.0}])
def test_bad_likelihood_is_an_error(likelihood) -> None:
    with pytest.raises(ValueError, match="likelihood"):
        build("vae", latent_dim=4, hidden_dim=8, likelihood=likelihood)
