import pytest
import torch

from polymodal.models.autoencoder import MultimodalAutoencoder

from .conftest import assert_finite_gradients, assert_missing_inputs_ignored, build, make_batch


def test_loss_terms_gradients_and_embedding(batch) -> None:
    inputs, masks = batch
    model = build("autoencoder", latent_dim=6, hidden_dim=8)
    assert isinstance(model, MultimodalAutoencoder)
    out = model(inputs, masks)
    assert sorted(out.components) == ["alignment", "recon_img", "recon_tab", "recon_txt"]
    out.total.backward()
    assert_finite_gradients(model)
    assert model.embed(inputs, masks).shape == (40, 6)
    decoded = model.decode(torch.zeros(3, 6))
    assert {k: v.shape[1:] for k, v in decoded.items()} == {k: inputs[k].shape[1:] for k in inputs}


def test_masks_are_respected() -> None:
    model = build("autoencoder", latent_dim=6, hidden_dim=8)
    assert_missing_inputs_ignored(model, "tab")
    model.eval()
    inputs, masks = make_batch(10)
    masks["img"][:] = False
    loss = model(inputs, masks)
    inputs["img"] = inputs["img"] + 100.0  # a missing modality's values do not count in its reconstruction
    assert float(model(inputs, masks).total) == pytest.approx(float(loss.total), rel=1e-5)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="latent_dim must be positive"):
        build("autoencoder", latent_dim=0)


def test_translate_reads_the_source_only() -> None:
    model = build("autoencoder", latent_dim=4, hidden_dim=8).eval()
    inputs, masks = make_batch(6)
    made = model.translate(inputs, masks, "txt", "img")
    assert made.shape == inputs["img"].shape
    changed = {**inputs, "img": inputs["img"] + 5.0, "tab": inputs["tab"] * 0}
    assert torch.equal(model.translate(changed, masks, "txt", "img"), made)
    with pytest.raises(ValueError, match="unknown modality 'sound'"):
        model.translate(inputs, masks, "txt", "sound")
