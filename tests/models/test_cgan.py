import pytest
import torch

from polymodal.models.cgan import ConditionalGAN
from polymodal.models.phased import check_phases

from .conftest import build, make_batch

ARGS = {"source": "txt", "target": "img", "noise_dim": 4, "condition_dim": 8, "hidden_dim": 16}


def gan(**overrides) -> ConditionalGAN:
    model = build("cgan", **{**ARGS, **overrides})
    assert isinstance(model, ConditionalGAN)
    return model


def test_phases_split_the_parameters_and_each_loss_reaches_its_own() -> None:
    model = gan()
    assert model.modalities == ["img", "txt"]  # the table's third modality is not used
    phases = {p.name: p for p in model.training_phases()}
    check_phases(model, list(phases.values()))
    inputs, masks = make_batch(12, names=("img", "txt"))
    masks["img"][::4] = False
    for name, phase in phases.items():
        model.zero_grad()
        out = model.phase_loss(name, inputs, masks)
        assert torch.isfinite(out.total) and all(torch.isfinite(v) for v in out.components.values())
        out.total.backward()
        own = {id(p) for p in phase.parameters}
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in phase.parameters)
        if name == "generator":  # the generator reads the condition detached: no gradient reaches its encoder
            assert all(p.grad is None for n, p in model.named_parameters() if n.startswith("encoders.txt."))
        assert own and not own & {id(p) for other, q in phases.items() if other != name for p in q.parameters}
    with pytest.raises(ValueError, match="unknown training phase 'critic'"):
        model.phase_loss("critic", inputs, masks)


def test_rows_without_both_modalities_do_not_count() -> None:
    model = gan().eval()
    inputs, masks = make_batch(8, names=("img", "txt"))
    masks["img"][4:] = False
    z = torch.zeros(8, 4)
    before = model.discriminator_loss(inputs, masks, z).total
    changed = {**inputs, "img": torch.cat([inputs["img"][:4], inputs["img"][4:] * 50])}
    # the mismatched pairs roll the batch by one: row 4 pairs with row 3, which is present; keep 4..7 missing
    assert torch.allclose(model.discriminator_loss(changed, masks, z).total, before)
    assert torch.allclose(model(changed, masks).total, model(inputs, masks).total)


def test_translation_shape_seed_and_direction() -> None:
    model = gan().eval()
    inputs, masks = make_batch(6, names=("img", "txt"))
    first = model.translate(inputs, masks, "txt", "img", torch.Generator().manual_seed(3))
    assert first.shape == (6, 1, 8, 8)
    assert torch.equal(model.translate(inputs, masks, "txt", "img", torch.Generator().manual_seed(3)), first)
    assert not torch.equal(model.translate(inputs, masks, "txt", "img", torch.Generator().manual_seed(4)), first)
    assert model.embed(inputs, masks).shape == (6, model.embedding_dim)
    with torch.no_grad():  # the validation loss uses z = 0: deterministic
        assert float(model(inputs, masks).total) == float(model(inputs, masks).total)
    with pytest.raises(ValueError, match="this cgan translates 'txt' to 'img', not 'img' to 'txt'"):
        model.translate(inputs, masks, "img", "txt")
    with pytest.raises(ValueError, match="unknown modality 'sound'"):
        model.translate(inputs, masks, "sound", "img")


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"needs a source and a target modality .*\['img', 'tab', 'txt'\]"):
        build("cgan")
    with pytest.raises(ValueError, match="the cgan target 'txt' is text; a GAN generates continuous modalities only"):
        gan(source="img", target="txt")
    with pytest.raises(ValueError, match="source and target are both 'img'"):
        gan(source="img", target="img")
    with pytest.raises(ValueError, match="discriminator_lr_ratio > 0"):
        gan(discriminator_lr_ratio=0.0)
    with pytest.raises(ValueError, match="mismatch_weight and recon_weight must be >= 0"):
        gan(recon_weight=-1.0)


def test_training_augmentations_perturb_the_source_only() -> None:
    model = gan()
    seen: list[list[str]] = []

    class Recording(torch.nn.Module):
        def forward(self, inputs):  # type: ignore[no-untyped-def]
            seen.append(sorted(inputs))
            return dict(inputs)

    model.augment = Recording()  # type: ignore[assignment]
    inputs, masks = make_batch(6, names=("img", "txt"))
    model.phase_loss("discriminator", inputs, masks)
    model.phase_loss("generator", inputs, masks)
    assert seen == [["txt"], ["txt"]]
