import math

import pytest
import torch

from polymodal.losses.contrastive import InfoNCELoss, LearnableTemperature, info_nce, multimodal_info_nce

# Rows normalise to za = [e1, e2, (e1+e2)/sqrt2] and zb = [e1, (e1+e2)/sqrt2, e2].
ZA = torch.tensor([[2.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
ZB = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
R2 = math.sqrt(2.0)
# cosine similarities / temperature 0.5:
LOGITS = [[2.0, R2, 0.0],
          [0.0, R2, 2.0],
          [R2, 2.0, R2]]


def _lse(values: list[float]) -> float:
    return math.log(sum(math.exp(v) for v in values))


def test_info_nce_matches_a_hand_computed_3x3_case() -> None:
    rows = [_lse(LOGITS[i]) - LOGITS[i][i] for i in range(3)]
    cols = [_lse([LOGITS[k][j] for k in range(3)]) - LOGITS[j][j] for j in range(3)]
    # written out: rows = [0.52591, 1.11170, 1.33405], columns = [0.52591, 1.33405, 1.11170]
    assert rows == pytest.approx([0.5259131, 1.1116996, 1.3340541], abs=1e-6)
    assert cols == pytest.approx([0.5259131, 1.3340541, 1.1116996], abs=1e-6)
    expected = 0.5 * (sum(rows) / 3 + sum(cols) / 3)
    assert expected == pytest.approx(0.9905556, abs=1e-6)
    assert float(info_nce(ZA, ZB, 0.5)) == pytest.approx(expected, abs=1e-5)


def test_info_nce_is_symmetric_and_rejects_mismatched_shapes() -> None:
    assert float(info_nce(ZA, ZB, 0.5)) == pytest.approx(float(info_nce(ZB, ZA, 0.5)), abs=1e-6)
    with pytest.raises(ValueError, match=r"two \[B, D\] tensors of the same shape"):
        info_nce(ZA, ZB[:2], 0.5)


def test_three_modalities_sum_the_pairwise_terms_and_skip_missing_pairs() -> None:
    torch.manual_seed(0)
    z = {name: torch.randn(5, 4) for name in ("c", "a", "b")}
    all_present = {name: torch.ones(5, dtype=torch.bool) for name in z}
    out = multimodal_info_nce(z, all_present, 0.3)
    expected = info_nce(z["a"], z["b"], 0.3) + info_nce(z["a"], z["c"], 0.3) + info_nce(z["b"], z["c"], 0.3)
    assert float(out.total) == pytest.approx(float(expected), abs=1e-5)
    assert sorted(out.components) == ["nce_a_b", "nce_a_c", "nce_b_c"]
    masks = {**all_present, "b": torch.tensor([True, False, True, True, False])}
    out = multimodal_info_nce(z, masks, 0.3)
    keep = masks["b"]
    assert float(out.components["nce_a_b"]) == pytest.approx(float(info_nce(z["a"][keep], z["b"][keep], 0.3)), 1e-5)
    # changing a missing sample's features does not change the loss
    z2 = {**z, "b": z["b"].clone()}
    z2["b"][1] = 100.0
    assert float(multimodal_info_nce(z2, masks, 0.3).total) == pytest.approx(float(out.total), abs=1e-6)


def test_learnable_temperature_is_log_parameterised_and_clamped_like_clip() -> None:
    temp = LearnableTemperature(0.07)
    assert float(temp()) == pytest.approx(0.07, rel=1e-5)
    with torch.no_grad():
        temp.log_scale.fill_(math.log(1000.0))
    assert float(temp()) == pytest.approx(0.01)  # 1 / 100
    loss = InfoNCELoss(temperature=0.5)
    out = loss({"a": ZA, "b": ZB}, {"a": torch.ones(3, dtype=torch.bool), "b": torch.ones(3, dtype=torch.bool)})
    out.total.backward()
    assert loss.temperature.log_scale.grad is not None and torch.isfinite(loss.temperature.log_scale.grad)
    assert float(out.components["temperature"]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="temperature must be positive"):
        LearnableTemperature(0.0)
