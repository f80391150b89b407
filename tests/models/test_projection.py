import pytest
import torch

from polymodal.encoders import build_encoder
from polymodal.models.projection import ProjectionModel

from .conftest import assert_finite_gradients, assert_missing_inputs_ignored, build


def test_only_the_source_side_trains(batch) -> None:
    inputs, masks = batch
    model = build("projection", names=("img", "tab"), target="img", hidden_dim=8)
    assert (model.source, model.target, model.embedding_dim) == ("tab", "img", 8)
    model.train()
    out = model({k: inputs[k] for k in ("img", "tab")}, {k: masks[k] for k in ("img", "tab")})
    assert sorted(out.components) == ["cosine"]
    out.total.backward()
    assert_finite_gradients(model)
    assert all(p.grad is None and not p.requires_grad for p in model.encoders["img"].parameters())
    assert all(p.grad is not None for p in model.mapping.parameters())
    assert not model.encoders["img"].training


def test_embed_maps_source_rows_into_the_target_space(batch) -> None:
    inputs, masks = batch
    inputs, masks = {k: inputs[k] for k in ("img", "tab")}, {k: masks[k] for k in ("img", "tab")}
    model = build("projection", names=("img", "tab"), target="img").eval()
    only_tab = {"img": torch.zeros(40, dtype=torch.bool), "tab": masks["tab"]}
    expected = model.mapping(model.encoders["tab"](inputs["tab"]))
    assert torch.allclose(model.embed(inputs, only_tab), expected, atol=1e-6)
    only_img = {"img": masks["img"], "tab": torch.zeros(40, dtype=torch.bool)}
    assert torch.allclose(model.embed(inputs, only_img), model.encoders["img"](inputs["img"]), atol=1e-6)
    assert_missing_inputs_ignored(model, "tab")


def test_bad_arguments_are_errors() -> None:
    with pytest.raises(ValueError, match=r"needs exactly two modalities, the table has \['img', 'tab', 'txt'\]"):
        build("projection", target="img")
    with pytest.raises(ValueError, match=r"name the target modality.*one of \['img', 'tab'\] \(got None\)"):
        build("projection", names=("img", "tab"))
    with pytest.raises(ValueError, match="source 'img' must be the modality other than the target 'img': 'tab'"):
        build("projection", names=("img", "tab"), target="img", source="img")
    with pytest.raises(ValueError, match="unknown projection metric 'l1'"):
        build("projection", names=("img", "tab"), target="img", loss="l1")


def test_learns_to_land_next_to_the_paired_target() -> None:
    # b is a fixed (frozen, random) encoding of a signal; a sees a linear mix of the same signal
    torch.manual_seed(0)
    encoders = {n: build_encoder("vector-mlp", {"dim": 4}, output_dim=8) for n in ("a", "b")}
    model = ProjectionModel(encoders, target="b", hidden_dim=32)
    signal = torch.randn(64, 4)
    inputs = {"a": signal @ torch.randn(4, 4), "b": signal}
    masks = {n: torch.ones(64, dtype=torch.bool) for n in inputs}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(200):
        opt.zero_grad()
        model(inputs, masks).total.backward()
        opt.step()
    model.eval()
    none = torch.zeros(64, dtype=torch.bool)
    za = torch.nn.functional.normalize(model.embed(inputs, {"a": masks["a"], "b": none}), dim=1)
    zb = torch.nn.functional.normalize(model.embed(inputs, {"a": none, "b": masks["b"]}), dim=1)
    accuracy = float(((za @ zb.T).argmax(dim=1) == torch.arange(64)).float().mean())
    assert accuracy > 0.3  # chance is 1/64
