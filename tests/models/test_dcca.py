import pytest

from polymodal.losses.dcca import BatchTooSmallError

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
