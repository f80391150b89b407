import pytest
import torch

from polymodal.encoders import build_encoder
from polymodal.models.contrastive import ContrastiveModel

from .conftest import assert_finite_gradients, assert_missing_inputs_ignored, build


def test_loss_gradients_and_unit_norm_embeddings(batch) -> None:
    inputs, masks = batch
    model = build("contrastive", projection_dim=6, hidden_dim=8)
    out = model(inputs, masks)
    assert sorted(out.components) == ["nce_img_tab", "nce_img_txt", "nce_tab_txt", "temperature"]
    out.total.backward()
    assert_finite_gradients(model)
    masks = {k: torch.ones(40, dtype=torch.bool) for k in masks}
    masks["txt"][:] = False
    masks["tab"][:] = False
    z = model.embed(inputs, masks)  # one modality present: its own normalised projection
    assert z.shape == (40, 6) and torch.allclose(z.norm(dim=1), torch.ones(40), atol=1e-5)


def test_masks_are_respected() -> None:
    assert_missing_inputs_ignored(build("contrastive", projection_dim=6), "img")


def test_one_modality_is_an_error() -> None:
    with pytest.raises(ValueError, match="contrastive learning needs at least two modalities"):
        build("contrastive", names=("img",))


def test_a_few_steps_align_paired_views() -> None:
    # two noisy views of one signal: after training, a row's nearest neighbour in the other view is its pair
    torch.manual_seed(0)
    encoders = {n: build_encoder("vector-mlp", {"dim": 4}, output_dim=8) for n in ("a", "b")}
    model = ContrastiveModel(encoders, projection_dim=8, hidden_dim=16, temperature=0.1)
    signal = torch.randn(64, 4)
    inputs = {"a": signal + 0.05 * torch.randn(64, 4), "b": signal @ torch.randn(4, 4) + 0.05 * torch.randn(64, 4)}
    masks = {n: torch.ones(64, dtype=torch.bool) for n in inputs}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        model(inputs, masks).total.backward()
        opt.step()
    model.eval()
    pa = model.projections(inputs, masks)
    sim = torch.nn.functional.normalize(pa["a"], dim=1) @ torch.nn.functional.normalize(pa["b"], dim=1).T
    accuracy = float((sim.argmax(dim=1) == torch.arange(64)).float().mean())
    assert accuracy > 0.5  # chance is 1/64
