import pytest
import torch
from torch import nn

from polymodal.encoders import build_encoder
from polymodal.losses.dcca import BatchTooSmallError
from polymodal.models.objectives import OBJECTIVES

from .conftest import assert_finite_gradients, assert_missing_inputs_ignored, build, make_batch

NAMES = ("img", "tab")


def test_loss_is_minus_the_correlation_and_gradients_flow(batch) -> None:
    inputs, masks = batch
    model = build("dcca", NAMES, latent_dim=4, hidden_dim=8)
    out = model({k: inputs[k] for k in NAMES}, {k: masks[k] for k in NAMES})
    assert -4.0 <= float(out.total) < 0 and float(out.components["correlation"]) == pytest.approx(-float(out.total))
    out.total.backward()
    assert_finite_gradients(model)
    model.eval()
    assert model.embed(inputs, masks).shape == (40, 4)


def test_masks_are_respected_and_pairs_need_both_views() -> None:
    model = build("dcca", NAMES, latent_dim=4, hidden_dim=8)
    assert_missing_inputs_ignored(model, "tab")
    inputs, masks = make_batch(40, names=NAMES)
    masks["tab"][:36] = False  # 4 pairs left for a latent of 4
    with pytest.raises(BatchTooSmallError, match="batch of 4 is too small for a latent of size 4"):
        model(inputs, masks)


def test_needs_exactly_two_views() -> None:
    with pytest.raises(ValueError, match="deep CCA needs exactly two modalities; the table has 3"):
        build("dcca", latent_dim=4)


def test_dccae_adds_a_weighted_reconstruction(batch) -> None:
    inputs, masks = batch
    inputs, masks = {k: inputs[k] for k in NAMES}, {k: masks[k] for k in NAMES}
    model = build("dccae", NAMES, latent_dim=4, hidden_dim=8, recon_weight=0.5)
    out = model(inputs, masks)
    expected = -out.components["correlation"] + 0.5 * (out.components["recon_img"] + out.components["recon_tab"])
    assert float(out.total) == pytest.approx(float(expected), rel=1e-5)
    out.total.backward()
    assert_finite_gradients(model)
    assert_missing_inputs_ignored(model, "img")


def test_head_layers_set_the_depth_of_the_projection_head(batch) -> None:
    inputs, masks = batch
    inputs, masks = {k: inputs[k] for k in NAMES}, {k: masks[k] for k in NAMES}
    for layers in (1, 2, 3):
        model = build("dcca", NAMES, latent_dim=4, hidden_dim=8, head_layers=layers)
        linears = [m for m in model.heads["img"] if isinstance(m, nn.Linear)]
        assert len(linears) == layers and linears[-1].out_features == 4
        out = model(inputs, masks)
        out.total.backward()
        assert_finite_gradients(model)


def test_without_a_head_the_encoder_output_is_the_latent() -> None:
    info = {v: {"kind": "vector", "dim": 6} for v in ("a", "b")}
    encoders = {v: build_encoder("vector-mlp", info[v], output_dim=3, hidden_dim=8, num_layers=3, dropout=0.0)
                for v in info}
    model = OBJECTIVES.create("dcca", encoders=encoders, input_info=info, latent_dim=3, head_layers=0)
    assert not any(isinstance(m, nn.Linear) for m in model.heads.modules())
    x = torch.randn(20, 6)
    model.eval()  # the batch norm with its running statistics (zero mean, unit variance at start) is the identity
    assert torch.allclose(model.project("a", x), model.encoders["a"](x), atol=1e-4)
    with pytest.raises(ValueError, match="head_layers=0 uses the 'a' encoder's output as the latent, but it has 3 "
                                         "features, not latent_dim=4"):
        OBJECTIVES.create("dcca", encoders=encoders, input_info=info, latent_dim=4, head_layers=0)
    with pytest.raises(ValueError, match="head_layers must be >= 0, got -1"):
        OBJECTIVES.create("dcca", encoders=encoders, input_info=info, latent_dim=3, head_layers=-1)


def test_project_gives_one_view_alone(batch) -> None:
    inputs, masks = batch
    model = build("dcca", NAMES, latent_dim=4, hidden_dim=8)
    model.eval()
    views = model.views({k: inputs[k] for k in NAMES}, {k: masks[k] for k in NAMES})
    assert torch.allclose(model.project("img", inputs["img"]), views["img"])
    with pytest.raises(ValueError, match=r"unknown view 'txt'; the model's views are \['img', 'tab'\]"):
        model.project("txt", inputs["txt"])


def test_dccae_decoders_take_the_given_depth() -> None:
    model = build("dccae", NAMES, latent_dim=4, hidden_dim=8, decoder_layers=3)
    trunk = model.decoders["img"].trunk
    assert [m.out_features for m in trunk if isinstance(m, nn.Linear)] == [8, 8, 8, 64]
