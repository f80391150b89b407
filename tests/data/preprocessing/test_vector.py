import numpy as np
import pandas as pd
import pytest
import torch

from polymodal.data.preprocessing import NotFittedError, VectorPreprocessor


def vectors(rows):
    return [None if r is None else np.asarray(r, dtype=np.float32) for r in rows]


def test_standardises_with_training_statistics_only():
    train_rows = [[1.0, 10.0, 5.0], [3.0, 30.0, 5.0], [5.0, 20.0, 5.0]]
    train = pd.DataFrame({"v": vectors(train_rows)})
    other = pd.DataFrame({"v": vectors([[100.0, 0.0, 0.0], None])})
    pre = VectorPreprocessor("v").fit(train)
    out = pre.transform(other)
    values = np.array(train_rows)
    np.testing.assert_allclose(pre.mean_, values.mean(axis=0))
    np.testing.assert_allclose(pre.std_, [values[:, 0].std(), values[:, 1].std(), 1.0])  # constant -> 1
    np.testing.assert_allclose(out[0].numpy(), (np.array([100.0, 0.0, 0.0]) - pre.mean_) / pre.std_, rtol=1e-6)
    assert torch.all(out[1] == 0)
    np.testing.assert_allclose(pre.mean_, values.mean(axis=0))  # transform changed nothing
    assert pre.input_info() == {"kind": "vector", "dim": 3}


def test_without_standardising_values_pass_through():
    frame = pd.DataFrame({"v": vectors([[1.0, -2.0], [0.5, 4.0]])})
    out = VectorPreprocessor("v", standardize=False).fit(frame).transform(frame)
    torch.testing.assert_close(out, torch.tensor([[1.0, -2.0], [0.5, 4.0]]))


def test_missing_rows(round_trip):
    frame = pd.DataFrame({"v": vectors([[1.0, 2.0], None, [3.0, 4.0]])})
    pre = VectorPreprocessor("v").fit(frame)
    np.testing.assert_array_equal(pre.present(frame), [True, False, True])
    assert torch.all(pre.transform(frame)[1] == 0)


def test_round_trip(round_trip):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"v": list(rng.normal(size=(6, 4)).astype(np.float32))})
    pre = VectorPreprocessor("v").fit(frame)
    assert torch.equal(round_trip(pre).transform(frame), pre.transform(frame))


def test_length_mismatch_names_the_row():
    frame = pd.DataFrame({"v": vectors([[1.0, 2.0], [1.0, 2.0, 3.0]])}, index=[10, 11])
    with pytest.raises(
        ValueError, match=r"column 'v', row 11: vector has length 3 but the training vectors have length 2"
    ):
        VectorPreprocessor("v").fit(frame)
    pre = VectorPreprocessor("v").fit(frame.iloc[:1])
    with pytest.raises(ValueError, match="row 11: vector has length 3"):
        pre.transform(frame)


def test_other_errors():
    frame = pd.DataFrame({"v": vectors([[1.0, np.nan]])})
    with pytest.raises(ValueError, match="row 0: vector contains NaN"):
        VectorPreprocessor("v").fit(frame)
    with pytest.raises(NotFittedError, match="VectorPreprocessor for column"):
        VectorPreprocessor("v").input_info()
    with pytest.raises(ValueError, match="vector column 'v' has no values in the training rows"):
        VectorPreprocessor("v").fit(pd.DataFrame({"v": [None]}))
