from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import polymodal
from polymodal.evaluation.robustness import (
    effective_robustness,
    missing_modality_scores,
    relative_robustness,
    robustness_curve,
    robustness_scores,
)
from polymodal.predictor import Predictor

FAST = {"epochs": 4, "progress": False, "batch_size": 128,
        "encoder_args": {"image": {"base_channels": 8, "output_dim": 32}}}


# -- relative robustness on hand-made curves --------------------------------------------------------
def test_relative_robustness_of_an_accuracy_curve_matches_a_hand_computation() -> None:
    # trapezoids: 0.5 * (0.8 + 0.6) / 2 + 0.5 * (0.6 + 0.2) / 2 = 0.55; divided by clean 0.8 and range 1
    assert relative_robustness([0, 0.5, 1], [0.8, 0.6, 0.2]) == pytest.approx(0.55 / 0.8)
    assert relative_robustness([0, 0.5, 1], [0.8, 0.8, 0.8]) == pytest.approx(1.0)
    # the level range divides: levels up to 0.4, area 0.2 * (0.9 + 0.6) / 2 + 0.2 * (0.6 + 0.3) / 2 = 0.24
    assert relative_robustness([0.4, 0, 0.2], [0.3, 0.9, 0.6]) == pytest.approx(0.24 / (0.9 * 0.4))


def test_relative_robustness_of_an_error_is_oriented_so_that_larger_is_more_robust() -> None:
    # RMSE 1 -> 1.5 -> 3: area 0.5 * 2.5 / 2 + 0.5 * 4.5 / 2 = 1.75, relative 1.75; score 2 - 1.75
    assert relative_robustness([0, 0.5, 1], [1.0, 1.5, 3.0], higher_is_better=False) == pytest.approx(0.25)
    assert relative_robustness([0, 1], [2.0, 2.0], higher_is_better=False) == pytest.approx(1.0)
    milder = relative_robustness([0, 1], [1.0, 1.2], higher_is_better=False)
    harsher = relative_robustness([0, 1], [1.0, 2.0], higher_is_better=False)
    assert milder > harsher  # a smaller rise of the error is more robust, as a smaller fall of accuracy is
    assert relative_robustness([0, 1], [1.0, 0.8]) > relative_robustness([0, 1], [1.0, 0.5])


def test_relative_robustness_refuses_a_curve_without_clean_level_or_clean_value() -> None:
    with pytest.raises(ValueError, match=r"levels must be distinct and include 0"):
        relative_robustness([0.2, 0.5], [0.8, 0.6])
    with pytest.raises(ValueError, match=r"the clean metric must be positive"):
        relative_robustness([0, 0.5], [0.0, 0.6])
    with pytest.raises(ValueError, match=r"need as many values as levels"):
        relative_robustness([0, 0.5, 1], [0.8, 0.6])


def test_robustness_scores_group_curves_and_orient_error_metrics() -> None:
    curve = pd.DataFrame({
        "fusion": ["late"] * 3 + ["concat"] * 3,
        "corruption": "image_noise", "modality": "all", "target": "y",
        "level": [0.0, 0.5, 1.0] * 2,
        "accuracy": [0.8, 0.6, 0.2, 0.9, 0.9, 0.9],
        "rmse": [1.0, 1.5, 3.0, 2.0, 2.0, 4.0],
        "r2": [0.0, -0.5, -1.0, 0.5, 0.4, 0.3],
    })
    scores = robustness_scores(curve).set_index(["fusion", "metric"])
    assert list(scores.columns) == ["corruption", "modality", "target", "clean", "relative_robustness"]
    assert scores.loc[("late", "accuracy"), "relative_robustness"] == pytest.approx(0.6875)
    assert scores.loc[("late", "rmse"), "relative_robustness"] == pytest.approx(0.25)
    assert scores.loc[("concat", "accuracy"), "relative_robustness"] == pytest.approx(1.0)
    # RMSE 2 -> 2 -> 4: area (2 + 3) / 2 / 2 = 1.25 of the clean value, score 0.75
    assert scores.loc[("concat", "rmse"), "relative_robustness"] == pytest.approx(0.75)
    assert np.isnan(scores.loc[("late", "r2"), "relative_robustness"])  # undefined for a clean value of 0
    assert scores.loc[("concat", "r2"), "clean"] == 0.5


# -- effective robustness -----------------------------------------------------------------------------
def score_rows() -> pd.DataFrame:
    return pd.DataFrame({
        "fusion": ["late", "late", "concat", "concat"],
        "seed": [0, 1, 0, 1],
        "metric": "accuracy",
        "clean": [0.7, 0.9, 0.8, 0.85],
        "relative_robustness": [0.5, 0.7, 0.75, 0.6],
    })


def test_paired_effective_robustness_subtracts_the_baseline_run_of_the_same_seed() -> None:
    out = effective_robustness(score_rows(), "late")
    np.testing.assert_allclose(out["baseline_robustness"], [0.5, 0.7, 0.5, 0.7])
    np.testing.assert_allclose(out["effective_robustness"], [0.0, 0.0, 0.25, -0.1])


def test_linear_effective_robustness_reads_the_baseline_line_at_the_same_clean_metric() -> None:
    # the late-fusion runs lie on robustness = clean - 0.2
    out = effective_robustness(score_rows(), "late", fit="linear")
    np.testing.assert_allclose(out["baseline_robustness"], [0.5, 0.7, 0.6, 0.65])
    np.testing.assert_allclose(out["effective_robustness"], [0.0, 0.0, 0.15, -0.05], atol=1e-12)


def test_effective_robustness_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"no fusion 'late_mean' run in the scores; fusions: concat, late"):
        effective_robustness(score_rows(), "late_mean")
    with pytest.raises(ValueError, match=r"2 baseline runs match \{'metric': 'accuracy'\}; the paired fit"):
        effective_robustness(score_rows().drop(columns="seed"), "late")
    one_late = score_rows().iloc[1:]
    with pytest.raises(ValueError, match=r"the linear fit needs baseline runs with two or more"):
        effective_robustness(one_late, "late", fit="linear")


# -- on a trained two-view digits model ------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits(digits_csv: Path) -> tuple[Predictor, pd.DataFrame]:
    predictor = polymodal.fit(digits_csv, target="digit", lr=3e-3, **FAST)
    frame = pd.read_csv(digits_csv).sample(300, random_state=0).reset_index(drop=True)
    for col in ("rotated", "noisy"):
        frame[col] = [str(digits_csv.parent / v) for v in frame[col]]
    return predictor, frame


def test_missing_modality_scores_cover_every_subset_and_all_present_is_evaluate(digits) -> None:
    predictor, frame = digits
    scores = missing_modality_scores(predictor, frame)
    assert list(zip(scores["present"], scores["missing"], scores["n_present"])) == [
        ("rotated+noisy", "", 2), ("rotated", "noisy", 1), ("noisy", "rotated", 1)]
    assert set(scores["target"]) == {"digit"}
    plain = predictor.evaluate(frame)["digit"]
    assert scores.iloc[0][list(plain)].to_dict() == pytest.approx(plain, abs=1e-6)
    for alone in (1, 2):  # the masks reach the model: one view alone scores differently
        assert scores.iloc[alone]["auroc"] != pytest.approx(plain["auroc"], abs=1e-6)


def test_robustness_curve_starts_at_the_clean_scores_and_falls_under_heavy_noise(digits) -> None:
    predictor, frame = digits
    curve = robustness_curve(predictor, frame, "image_noise", levels=(0.0, 1.0))
    assert list(curve.columns[:4]) == ["corruption", "modality", "level", "target"]
    assert list(curve["level"]) == [0.0, 1.0] and set(curve["modality"]) == {"all"}
    clean = predictor.evaluate(frame)["digit"]
    assert curve.iloc[0][list(clean)].to_dict() == pytest.approx(clean, abs=1e-6)
    assert clean["accuracy"] > 0.4  # chance is 0.1
    assert curve.iloc[1]["accuracy"] < clean["accuracy"] - 0.1
    scores = robustness_scores(curve).set_index("metric")
    assert scores.loc["accuracy", "relative_robustness"] < 1


def test_robustness_curve_of_one_modality_and_a_wrong_kind(digits) -> None:
    predictor, frame = digits
    loaded = predictor.load_cells(frame)
    curve = robustness_curve(predictor, loaded, "occlusion", modality="noisy", levels=(0.0, 0.5), seed=1)
    assert list(curve["modality"]) == ["noisy", "noisy"]
    with pytest.raises(ValueError, match=r"'typos' applies to text columns, but modality 'rotated' holds image"):
        robustness_curve(predictor, loaded, "typos", modality="rotated")
