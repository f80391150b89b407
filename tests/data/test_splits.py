import numpy as np
import pandas as pd

from polymodal.data.splits import split_by_column, stratified_split


def test_stratified_split_is_seeded_and_keeps_class_balance() -> None:
    labels = np.array([0] * 50 + [1] * 50)
    train, val = stratified_split(100, labels, 0.2, seed=3)
    again = stratified_split(100, labels, 0.2, seed=3)
    assert np.array_equal(train, again[0]) and np.array_equal(val, again[1])
    assert sorted(np.bincount(labels[val]).tolist()) == [10, 10]
    assert len(set(train) & set(val)) == 0 and len(train) + len(val) == 100


def test_split_by_column() -> None:
    frame = pd.DataFrame({"split": ["train", "TEST", "val", "test "]})
    train, test = split_by_column(frame, "split")
    assert train.tolist() == [0, 2] and test.tolist() == [1, 3]
