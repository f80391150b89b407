"""Shapley values of the modalities: efficiency, and equal to a brute force over every order of the modalities."""

from __future__ import annotations

from itertools import combinations, permutations

import numpy as np
import pandas as pd
import pytest
import torch

import polymodal
from polymodal.evaluation.contribution import modality_contribution


def brute_force(names, value):
    """Shapley values as the mean, over all M! orders of the modalities, of each one's marginal gain when it is
    added (the definition; the module uses the subset-weight formula instead)."""
    orders = list(permutations(names))
    out = {n: 0.0 for n in names}
    for order in orders:
        present: set[str] = set()
        for name in order:
            out[name] += value(frozenset(present | {name})) - value(frozenset(present))
            present.add(name)
    return {n: v / len(orders) for n, v in out.items()}


def scores_by_hand(predictor, data):
    """Accuracy and each row's probability of its true class for every subset, masking in the test itself."""
    names = [m.name for m in predictor.pipeline.schema.modalities]
    accuracy, proba = {}, {}
    for size in range(len(names) + 1):
        for subset in combinations(names, size):
            masked = data.with_masks({n: torch.zeros_like(data.masks[n]) for n in names if n not in subset})
            logits = predictor.logits(masked)["label"]
            probs = torch.softmax(logits, dim=1).double()
            truth = data.targets["label"]
            accuracy[frozenset(subset)] = float((logits.argmax(1) == truth).float().mean())
            proba[frozenset(subset)] = probs[torch.arange(len(truth)), truth].numpy()
    return names, accuracy, proba


def test_shapley_values_add_up_and_equal_a_brute_force_over_orders(three_modality) -> None:
    predictor, frame = three_modality
    data = predictor.pipeline.transform(predictor.load_cells(frame))
    result = modality_contribution(predictor, data)
    names, accuracy, proba = scores_by_hand(predictor, data)
    assert result.modalities == names and len(names) == 3 and result.exact and result.metric == "accuracy"
    everything = frozenset(names)
    assert result.full == pytest.approx(accuracy[everything], abs=1e-6)
    assert result.empty == pytest.approx(accuracy[frozenset()], abs=1e-6)
    assert sum(result.shapley.values()) == pytest.approx(result.full - result.empty, abs=1e-6)
    expected = brute_force(names, lambda s: accuracy[s])
    for name in names:
        assert result.shapley[name] == pytest.approx(expected[name], abs=1e-6)
    # the informative modalities (tabular's x, the vector u) contribute, the noise vector w next to nothing
    assert result.shapley["tabular"] > 0.1 and result.shapley["u"] > 0.05 and abs(result.shapley["w"]) < 0.05
    # per sample: the probability of the true class, Shapley values by row, adding up row by row
    per_row = brute_force(names, lambda s: proba[s])
    np.testing.assert_allclose(result.per_sample, np.stack([per_row[n] for n in names], axis=1), atol=1e-6)
    np.testing.assert_allclose(result.per_sample.sum(axis=1), proba[everything] - proba[frozenset()], atol=1e-6)
    assert result.per_sample_quantity == "probability of the true class"


def test_single_modality_and_leave_one_out_scores_beside_the_shapley_values(three_modality) -> None:
    predictor, frame = three_modality
    data = predictor.pipeline.transform(predictor.load_cells(frame))
    result = modality_contribution(predictor, data)
    names, accuracy, _ = scores_by_hand(predictor, data)
    for name in names:
        assert result.single[name] == pytest.approx(accuracy[frozenset({name})], abs=1e-6)
        assert result.leave_one_out[name] == pytest.approx(accuracy[frozenset(names) - {name}], abs=1e-6)
    assert set(result.subsets) == {"", "u", "w", "tabular", "u+w", "u+tabular", "w+tabular", "u+w+tabular"}
    assert [row["modality"] for row in result.table()] == names


def test_sampled_permutations_beyond_the_exact_limit_add_up_and_are_seeded(three_modality) -> None:
    predictor, frame = three_modality
    data = predictor.pipeline.transform(predictor.load_cells(frame))
    exact = modality_contribution(predictor, data)
    sampled = modality_contribution(predictor, data, exact_max=2, permutations=300, seed=1)
    assert not sampled.exact and sampled.permutations == 300
    assert sum(sampled.shapley.values()) == pytest.approx(sampled.full - sampled.empty, abs=1e-6)
    assert sampled.shapley == modality_contribution(predictor, data, exact_max=2, permutations=300, seed=1).shapley
    for name in exact.modalities:  # 300 draws of the 6 orders: close to the exact values
        assert sampled.shapley[name] == pytest.approx(exact.shapley[name], abs=0.03)
    assert sampled.to_dict()["method"] == "300 sampled permutations"


def test_bad_metric_target_and_unlabelled_rows_are_errors(three_modality) -> None:
    predictor, frame = three_modality
    data = predictor.pipeline.transform(predictor.load_cells(frame))
    with pytest.raises(ValueError, match=r"unknown metric 'r2' for target 'label'; known: accuracy, auroc, macro_f1"):
        modality_contribution(predictor, data, metric="r2")
    with pytest.raises(ValueError, match=r"unknown target 'y'; the model predicts label"):
        modality_contribution(predictor, data, target="y")
    unlabelled = predictor.pipeline.transform(predictor.load_cells(frame.drop(columns="label"), with_targets=False),
                                              with_targets=False)
    with pytest.raises(ValueError, match="the table has no labels for target 'label'"):
        modality_contribution(predictor, unlabelled)


def test_regression_contributions_are_of_r2_and_per_sample_of_the_negative_squared_error() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    frame = pd.DataFrame({"x": x, "u": [[float(a), float(b)] for a, b in rng.normal(size=(60, 2))], "y": 2 * x + 10})
    predictor = polymodal.fit(frame, target="y", epochs=2, progress=False, preset="none", baseline=False)
    data = predictor.pipeline.transform(predictor.load_cells(frame))
    result = modality_contribution(predictor, data)
    assert result.metric == "r2" and result.per_sample_quantity == "negative squared error (original units)"
    encoder = predictor.pipeline.targets["y"]
    everything = encoder.decode(predictor.logits(data)["y"])[0]
    nothing = encoder.decode(predictor.logits(data.with_masks({n: torch.zeros_like(m) for n, m in
                                                                data.masks.items()}))["y"])[0]
    truth = frame["y"].to_numpy()
    by_hand = -((everything - truth) ** 2) + (nothing - truth) ** 2
    np.testing.assert_allclose(result.per_sample.sum(axis=1), by_hand, rtol=1e-4, atol=1e-4)
