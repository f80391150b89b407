import numpy as np
import pandas as pd
import pytest
import torch

from polymodal.data.schema import TargetSpec, TaskKind
from polymodal.data.targets import TargetEncoder, target_problems
from polymodal.errors import DataError


def test_multiclass_round_trip_and_unseen_label_names_rows() -> None:
    enc = TargetEncoder(TargetSpec("y", TaskKind.MULTICLASS)).fit(pd.Series([3, 1, 2, 1]))
    assert enc.classes_ == [1, 2, 3]
    assert enc.transform(pd.Series([2, 3])).tolist() == [1, 2]
    with pytest.raises(DataError, match=r"row 7, column 'y': unseen label 9"):
        enc.transform(pd.Series([1, 9]), rows=np.array([6, 7]))
    labels, probs = enc.decode(torch.tensor([[0.0, 5.0, 0.0]]))
    assert labels.tolist() == [2] and probs.shape == (1, 3)


def test_regression_is_standardised_and_decoded_in_original_units() -> None:
    enc = TargetEncoder(TargetSpec("y", TaskKind.REGRESSION)).fit(pd.Series([1.0, 3.0]))
    encoded = enc.transform(pd.Series([1.0, 3.0]))
    assert torch.allclose(encoded.squeeze(), torch.tensor([-1.0, 1.0]))
    values, probs = enc.decode(encoded)
    assert np.allclose(values, [1.0, 3.0]) and probs is None


def test_multilabel_multi_hot() -> None:
    enc = TargetEncoder(TargetSpec("y", TaskKind.MULTILABEL)).fit(pd.Series(["a|b", "c", "b"]))
    assert enc.classes_ == ["a", "b", "c"]
    assert enc.transform(pd.Series(["a|c"])).tolist() == [[1.0, 0.0, 1.0]]


def test_binary_needs_two_classes_and_state_round_trips() -> None:
    with pytest.raises(DataError, match="binary but the training rows hold 3 class"):
        TargetEncoder(TargetSpec("y", TaskKind.BINARY)).fit(pd.Series(["a", "b", "c"]))
    enc = TargetEncoder(TargetSpec("y", TaskKind.BINARY)).fit(pd.Series(["no", "yes"]))
    again = TargetEncoder.from_state(enc.get_state())
    assert again.classes_ == ["no", "yes"] and again.transform(pd.Series(["yes"])).tolist() == [[1.0]]


def test_unseen_rows_and_their_problems() -> None:
    enc = TargetEncoder(TargetSpec("y", TaskKind.MULTICLASS)).fit(pd.Series(["a", "b", "c"]))
    values = pd.Series(["a", "z", "c", "w"])
    assert enc.unseen(values).tolist() == [False, True, False, True]
    assert [str(p) for p in enc.unseen_problems(values, np.array([10, 11, 12, 13]))] == [
        "row 11, column 'y': unseen label 'z' (remove the row, or retrain with this label)",
        "row 13, column 'y': unseen label 'w' (remove the row, or retrain with this label)",
    ]
    multi = TargetEncoder(TargetSpec("y", TaskKind.MULTILABEL)).fit(pd.Series(["a|b", "c"]))
    assert multi.unseen(pd.Series(["a|c", "a|q"])).tolist() == [False, True]
    reg = TargetEncoder(TargetSpec("y", TaskKind.REGRESSION)).fit(pd.Series([1.0, 2.0]))
    assert reg.unseen(pd.Series([99.0])).tolist() == [False]


def test_a_single_class_target_is_a_problem() -> None:
    spec = TargetSpec("label", TaskKind.MULTICLASS)
    [problem] = target_problems(spec, pd.Series(["cat", None, "cat"]))
    assert str(problem) == ("column 'label': target 'label' has a single class ['cat'] (a classifier needs at least "
                            "two classes: check the target column and its rows)")
    assert target_problems(spec, pd.Series(["cat", "dog"])) == []
    assert target_problems(TargetSpec("v", TaskKind.REGRESSION), pd.Series([1.0, 1.0])) == []
    with pytest.raises(DataError, match=r"target 'label' has a single class \['cat'\] in the training rows"):
        TargetEncoder(spec).fit(pd.Series(["cat", "cat"]))
