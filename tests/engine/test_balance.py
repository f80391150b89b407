"""``polymodal.engine.balance``: the OGM-GE coefficients and gradient-blending weights against hand
computations, the encoder gradients a step modulates, one epoch of each method, and the refusals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

import polymodal
from polymodal.config import FitConfig
from polymodal.data.module import TableDataModule
from polymodal.engine.balance import blending_weights, ogm_coefficients
from polymodal.engine.fit_steps import build_module


def test_ogm_coefficients_on_fixed_confidences_match_the_hand_computation() -> None:
    s = torch.tensor([0.8, 0.4, 0.2])
    # rho_m = s_m / mean of the others: 0.8 / 0.3, 0.4 / 0.5, 0.2 / 0.6; only the first exceeds 1
    expected = [1 - math.tanh(0.5 * (0.8 / 0.3 - 1)), 1.0, 1.0]
    assert ogm_coefficients(s, alpha=0.5).tolist() == pytest.approx(expected, rel=1e-6)
    # two modalities: rho is the paper's s_v / s_a
    assert ogm_coefficients(torch.tensor([0.6, 0.3]), 2.0).tolist() == pytest.approx([1 - math.tanh(2.0), 1.0])
    assert ogm_coefficients(torch.tensor([0.5, 0.5]), 1.0).tolist() == [1.0, 1.0]


def test_blending_weights_are_gain_over_squared_overfitting_change() -> None:
    first = [(1.0, 1.3), (1.2, 1.4), (1.0, 1.0)]
    last = [(0.5, 1.0), (1.0, 1.3), (0.9, 1.1)]  # the third branch's validation loss rose: no weight
    g = [0.3, 0.1]
    o = [(1.0 - 0.5) - (1.3 - 1.0), (1.3 - 1.0) - (1.4 - 1.2)]
    raw = [g[0] / o[0] ** 2, g[1] / o[1] ** 2, 0.0]
    expected = [3 * r / sum(raw) for r in raw]
    assert blending_weights(first, last, torch.ones(3)).tolist() == pytest.approx(expected, rel=1e-5)
    assert blending_weights(first, first, torch.tensor([2.0, 1.0, 0.0])).tolist() == [2.0, 1.0, 0.0]  # none generalised


def _two_modality_table(n: int = 80, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    frame = pd.DataFrame({"a": rng.normal(size=n) + 2.0 * y, "b": rng.normal(size=n)})
    frame["vec"] = [str([float(v + 0.3 * t), float(w)]) for v, w, t in zip(rng.normal(size=n), rng.normal(size=n), y)]
    frame["y"] = np.where(y == 1, "yes", "no")
    return frame


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_an_ogm_step_scales_the_dominant_encoders_gradients_by_its_coefficient() -> None:
    frame = _two_modality_table()
    config = FitConfig.model_validate({"data": {"targets": ["y"], "modalities": {"vec": "vector"}},
                                       "train": {"balance": "ogm-ge", "balance_noise": False, "balance_alpha": 1.0}})
    data = TableDataModule(frame, config.data).setup()
    module = build_module(config, data.fitted)
    module.eval()  # the same forward pass twice
    batch = next(iter(data.train_dataloader(config.train)))

    def step(modulate: bool) -> dict[str, list[torch.Tensor]]:
        module.zero_grad()
        module.training_step(batch, 0).backward()
        if modulate:
            module.on_after_backward()
        return {m: [p.grad.clone() for p in enc.parameters()] for m, enc in module.model.encoders.items()}

    plain, modulated = step(False), step(True)
    balance = module.balance
    inputs, masks, targets = batch
    features = module.model.encode(inputs)
    s = balance.confidences(features, masks, targets["y"])
    coeff = ogm_coefficients(s, 1.0)
    assert balance.coefficients == pytest.approx(dict(zip(balance.modalities, coeff.tolist())))
    assert min(coeff.tolist()) < 1.0  # one modality dominates this batch and is slowed
    for i, m in enumerate(balance.modalities):
        for g0, g1 in zip(plain[m], modulated[m]):
            assert torch.allclose(g1, g0 * coeff[i], atol=1e-7)


@pytest.mark.parametrize("method", ["ogm-ge", "gradient-blending"])
def test_each_balance_method_trains_an_epoch_and_reports_its_heads(method: str) -> None:
    predictor = polymodal.fit(_two_modality_table(), "y", epochs=2, preset="none", baseline=False, progress=False,
                              modalities={"vec": "vector"}, balance=method, balance_every=1)
    report = predictor.metrics["balance"]
    assert report["method"] == method and report["modalities"] == ["tabular", "vec"]
    assert set(report["auxiliary_accuracy"]["val"]) == {"tabular", "vec"}
    assert any("val_aux_tabular_accuracy" in row for row in predictor.history)
    if method == "gradient-blending":
        assert len(report["weight_history"]) == 1 and sum(report["weights"].values()) == pytest.approx(3.0)
    else:
        assert set(report["last_coefficients"]) == {"tabular", "vec"}


@pytest.mark.parametrize(("options", "message"), [
    ({"fusion": "late"}, r"--balance ogm-ge balances the encoders of a middle fusion; 'late' is a late fusion"),
    ({"fusion": "early"}, r"'early' is an early \(raw-input\) fusion"),
    ({"ignore": ["vec"]}, r"--balance ogm-ge balances several modalities; the table has one \(tabular\)"),
    ({"sharing": "soft", "targets_extra": True},
     r"works with one shared trunk \(sharing hard\), not with sharing 'soft'"),
])
def test_balance_is_refused_where_it_does_not_apply(options: dict[str, object], message: str) -> None:
    frame = _two_modality_table()
    targets = ["y"]
    if options.pop("targets_extra", False):
        frame["y2"] = frame["y"]
        targets.append("y2")
    with pytest.raises(ValueError, match=message):
        polymodal.fit(frame, targets, epochs=1, preset="none", baseline=False, progress=False,
                      modalities={"vec": "vector"}, balance="ogm-ge", **options)


def test_ogm_needs_a_classification_first_target() -> None:
    frame = _two_modality_table()
    frame["y"] = frame["a"] * 2
    with pytest.raises(ValueError, match=r"--balance ogm-ge measures each modality's confidence in the true class: "
                                         r"the first target 'y' is regression"):
        polymodal.fit(frame, "y", epochs=1, preset="none", baseline=False, progress=False,
                      modalities={"vec": "vector"}, balance="ogm-ge")


def test_balance_is_refused_for_frozen_encoders() -> None:
    from polymodal.engine.fit_steps import build_balance

    frame = _two_modality_table()
    config = FitConfig.model_validate({"data": {"targets": ["y"], "modalities": {"vec": "vector"}},
                                       "train": {"balance": "gradient-blending"}})
    data = TableDataModule(frame, config.data).setup()
    model = build_module(config.model_copy(update={"train": config.train.model_copy(update={"balance": "none"})}),
                         data.fitted).model
    frozen = config.model_copy(update={"model": config.model.model_copy(update={"freeze": True})})
    with pytest.raises(ValueError, match="--balance gradient-blending changes the encoders' gradients, but --freeze "
                                         "keeps the transferred encoders fixed"):
        build_balance(frozen, model, data.fitted)
    model.freeze(["encoders.vec"])
    with pytest.raises(ValueError, match=r"the encoder\(s\) of vec are frozen \(no trainable weight\)"):
        build_balance(config, model, data.fitted)
