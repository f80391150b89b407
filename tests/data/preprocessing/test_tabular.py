import numpy as np
import pandas as pd
import pytest
import torch
from scipy.special import ndtri
from sklearn.preprocessing import QuantileTransformer

from polymodal.data.preprocessing import NotFittedError, TabularPreprocessor

NAN = float("nan")


def test_standard_transform_and_median_imputation_use_training_rows_only():
    train = pd.DataFrame({"x": [1.0, 2.0, NAN, 10.0], "y": [0.0, 0.0, 4.0, 4.0]})
    test = pd.DataFrame({"x": [NAN, 100.0], "y": [1.0, NAN]})
    pre = TabularPreprocessor(numeric=["x", "y"]).fit(train)
    before = pre.get_state()
    out = pre.transform(test).numpy()
    x_imputed = np.array([1.0, 2.0, 2.0, 10.0])  # NaN -> train median 2
    y = np.array([0.0, 0.0, 4.0, 4.0])
    np.testing.assert_allclose(pre.medians_, [2.0, 2.0])
    np.testing.assert_allclose(pre.mean_, [x_imputed.mean(), y.mean()])
    np.testing.assert_allclose(pre.std_, [x_imputed.std(), y.std()])
    expected = [
        [(2.0 - x_imputed.mean()) / x_imputed.std(), (1.0 - 2.0) / 2.0],
        [(100.0 - x_imputed.mean()) / x_imputed.std(), (2.0 - 2.0) / 2.0],
    ]
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    after = pre.get_state()
    assert before[0] == after[0] and all(np.array_equal(before[1][k], after[1][k]) for k in before[1])


def test_categories_unseen_and_missing_map_to_the_unknown_bucket():
    train = pd.DataFrame({"c": ["red", "blue", "red", None, 3], "d": ["a", "a", "b", "b", "b"]})
    pre = TabularPreprocessor(categorical=["c", "d"]).fit(train)
    assert pre.vocabularies_ == {"c": ["3", "blue", "red"], "d": ["a", "b"]}
    assert pre.input_info() == {"kind": "tabular", "n_numeric": 0, "cardinalities": [4, 3]}
    test = pd.DataFrame({"c": ["red", "green", None, 3], "d": ["b", "b", "zzz", "a"]})
    out = pre.transform(test)
    assert out.dtype == torch.float32
    assert out.tolist() == [[3.0, 2.0], [0.0, 2.0], [0.0, 0.0], [1.0, 1.0]]


def test_min_frequency_sends_rare_categories_to_unknown():
    train = pd.DataFrame({"c": ["a", "a", "b", "c", "c", "c"]})
    pre = TabularPreprocessor(categorical=["c"], min_frequency=2).fit(train)
    assert pre.input_info()["cardinalities"] == [3]
    assert pre.transform(pd.DataFrame({"c": ["a", "b", "c"]})).tolist() == [[1.0], [0.0], [2.0]]


def test_numeric_then_categorical_layout_and_presence():
    frame = pd.DataFrame({"x": [1.0, NAN, NAN, 3.0], "c": ["u", "v", None, None]})
    pre = TabularPreprocessor(numeric=["x"], categorical=["c"]).fit(frame)
    np.testing.assert_array_equal(pre.present(frame), [True, True, False, True])
    out = pre.transform(frame)
    assert out.shape == (4, 2)
    assert out[2].tolist() == [0.0, 0.0]  # every column missing: zeros
    assert out[1, 1] == 2.0 and out[1, 0] == 0.0  # x imputed with the median 2 -> standardised 0


def test_quantile_transform_matches_scikit_learn_on_continuous_values():
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"x": rng.exponential(size=300)})
    test = pd.DataFrame({"x": rng.exponential(size=50)})
    pre = TabularPreprocessor(numeric=["x"], numeric_transform="quantile", n_quantiles=100).fit(train)
    reference = QuantileTransformer(n_quantiles=100, output_distribution="normal").fit(train.to_numpy())
    np.testing.assert_allclose(pre.transform(test).numpy(), reference.transform(test.to_numpy()), atol=1e-4)
    extreme = pre.transform(pd.DataFrame({"x": [-1.0, 1e9]})).numpy()[:, 0]
    np.testing.assert_allclose(extreme, [ndtri(1e-7), ndtri(1 - 1e-7)], rtol=1e-6)
    assert pre.get_state()[1]["quantiles"].shape == (100, 1)


def test_quantile_transform_maps_tied_values_to_the_middle_of_their_range():
    # scikit-learn sends the smallest and largest training value to +-5.2; ties here go to the middle
    # of the quantile range they occupy, i.e. about the mid-point of the empirical CDF step
    rng = np.random.default_rng(1)
    train_values = rng.integers(0, 5, size=400).astype(float)
    pre = TabularPreprocessor(numeric=["y"], numeric_transform="quantile").fit(pd.DataFrame({"y": train_values}))
    levels = np.arange(5.0)
    out = pre.transform(pd.DataFrame({"y": levels})).numpy()[:, 0]
    mid_cdf = np.array([((train_values < v).mean() + (train_values <= v).mean()) / 2 for v in levels])
    np.testing.assert_allclose(out, ndtri(mid_cdf), atol=0.02)


def test_log1p_is_sign_preserving_then_standardised():
    values = np.array([-100.0, -1.0, 0.0, 1.0, 100.0])
    frame = pd.DataFrame({"x": values})
    out = TabularPreprocessor(numeric=["x"], numeric_transform="log1p").fit(frame).transform(frame).numpy()[:, 0]
    logged = np.sign(values) * np.log1p(np.abs(values))
    np.testing.assert_allclose(out, (logged - logged.mean()) / logged.std(), rtol=1e-6)
    np.testing.assert_allclose(out, -out[::-1], atol=1e-6)


def test_none_transform_keeps_values():
    frame = pd.DataFrame({"x": [5.0, NAN, 7.0], "c": ["a", "b", "a"]})
    pre = TabularPreprocessor(numeric=["x"], categorical=["c"], numeric_transform="none").fit(frame)
    assert pre.transform(frame)[:, 0].tolist() == [5.0, 6.0, 7.0]


def test_variance_selection_drops_low_variance_columns():
    frame = pd.DataFrame({"const": [1.0] * 4, "small": [0.0, 0.1, 0.0, 0.1], "big": [0.0, 5.0, 1.0, 9.0]})
    pre = TabularPreprocessor(numeric=list(frame), feature_selection="variance").fit(frame)
    assert pre.selected_ == ["small", "big"]
    pre = TabularPreprocessor(numeric=list(frame), feature_selection="variance", variance_threshold=0.01).fit(frame)
    assert pre.selected_ == ["big"]
    assert pre.input_info()["n_numeric"] == 1
    assert pre.transform(frame).shape == (4, 1)


def informative_data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6))
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(6)])
    signal = 2.0 * x[:, 1] - 1.5 * x[:, 4]
    return frame, signal


@pytest.mark.parametrize("score", ["f_test", "mutual_info"])
def test_k_best_keeps_the_informative_columns(score):
    frame, signal = informative_data()
    labels = (signal > 0).astype(np.int64)
    for target in (labels, signal):  # classification, then regression
        pre = TabularPreprocessor(numeric=list(frame), feature_selection="k_best", k=2, selection_score=score)
        pre.fit(frame, target)
        assert pre.selected_ == ["f1", "f4"]
        assert pre.transform(frame).shape == (300, 2)
    string_labels = np.where(labels == 1, "yes", "no").astype(object)
    pre = TabularPreprocessor(numeric=list(frame), feature_selection="k_best", k=2).fit(frame, string_labels)
    assert pre.selected_ == ["f1", "f4"]


def test_k_best_with_more_k_than_columns_keeps_all():
    frame, signal = informative_data(50)
    pre = TabularPreprocessor(numeric=list(frame), feature_selection="k_best", k=50).fit(frame, signal)
    assert pre.selected_ == list(frame)


def test_k_best_needs_the_target():
    frame, _ = informative_data(20)
    pre = TabularPreprocessor(numeric=list(frame), feature_selection="k_best", k=2)
    with pytest.raises(ValueError, match=r"feature_selection='k_best' needs the training target; pass target="):
        pre.fit(frame)
    with pytest.raises(ValueError, match="target has 3 rows but the frame has 20"):
        pre.fit(frame, np.zeros(3))


@pytest.mark.parametrize("transform", ["standard", "quantile", "log1p", "none"])
@pytest.mark.parametrize("selection", ["none", "k_best"])
def test_round_trip(round_trip, transform, selection):
    frame, signal = informative_data(40, seed=3)
    frame["cat"] = np.where(signal > 0, "hi", "lo")
    frame.loc[3, "f2"] = NAN
    test = frame.copy()
    test.loc[0, "cat"] = "never seen"
    pre = TabularPreprocessor(
        numeric=[f"f{i}" for i in range(6)],
        categorical=["cat"],
        numeric_transform=transform,
        feature_selection=selection,
        k=3,
    ).fit(frame, signal)
    loaded = round_trip(pre)
    assert torch.equal(loaded.transform(test), pre.transform(test))
    assert loaded.input_info() == pre.input_info()


def test_errors():
    with pytest.raises(ValueError, match="unknown numeric_transform 'boxcox'; valid values: standard, quantile"):
        TabularPreprocessor(numeric=["x"], numeric_transform="boxcox")
    with pytest.raises(ValueError, match="needs at least one numeric or categorical column"):
        TabularPreprocessor()
    with pytest.raises(ValueError, match=r"column\(s\) \['x'\] are listed as both numeric and categorical"):
        TabularPreprocessor(numeric=["x"], categorical=["x"])
    with pytest.raises(ValueError, match="numeric column 'x' holds a non-numeric value"):
        TabularPreprocessor(numeric=["x"]).fit(pd.DataFrame({"x": [1.0, "abc"]}))
    with pytest.raises(NotFittedError, match="TabularPreprocessor"):
        TabularPreprocessor(numeric=["x"]).transform(pd.DataFrame({"x": [1.0]}))
    const = pd.DataFrame({"x": [1.0, 1.0]})
    with pytest.raises(ValueError, match="removed every numeric column"):
        TabularPreprocessor(numeric=["x"], feature_selection="variance").fit(const)
