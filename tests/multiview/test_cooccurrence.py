"""Co-occurrence builders against hand counts."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.multiview import build_vocabulary, paired_cooccurrence, window_cooccurrence


def dense(matrix, labels_r, labels_c) -> dict:
    arr = matrix.counts.toarray()
    return {(r, c): arr[matrix.rows.index(r), matrix.columns.index(c)] for r in labels_r for c in labels_c}


def test_window_counts_match_a_hand_count() -> None:
    m = window_cooccurrence([["a", "b", "c", "a"]], window=2)
    # pairs within distance 2: (a,b) (a,c) (b,c) (b,a) (c,a); counted in both orders
    expected = {("a", "a"): 0, ("a", "b"): 2, ("a", "c"): 2, ("b", "c"): 1, ("b", "b"): 0, ("c", "c"): 0}
    got = dense(m, "abc", "abc")
    for key, value in expected.items():
        assert got[key] == value
    np.testing.assert_array_equal(m.counts.toarray(), m.counts.toarray().T)


def test_distance_weighting_and_unknown_tokens() -> None:
    m = window_cooccurrence([["x", "oov", "y"]], window=2, vocabulary=["x", "y"], distance_weighting=True)
    assert m.counts[m.row_index("x"), m.row_index("y")] == pytest.approx(0.5)  # distance 2 even with oov between
    assert m.counts.sum() == pytest.approx(1.0)


def test_vocabulary_orders_by_frequency_then_first_appearance() -> None:
    assert build_vocabulary([["b", "c", "a"], ["a", "c"], ["d"]], min_count=1) == ("c", "a", "b", "d")
    assert build_vocabulary([["b", "c", "a"], ["a", "c"]], min_count=2) == ("c", "a")


def test_paired_counts_across_modalities() -> None:
    m = paired_cooccurrence([["red", "car"], "red", ["blue"]], [3, [7, 3], 7], weights=[1.0, 2.0, 1.0])
    got = dense(m, ["red", "car", "blue"], [3, 7])
    assert got == {
        ("red", 3): 3.0,
        ("red", 7): 2.0,
        ("car", 3): 1.0,
        ("car", 7): 0.0,
        ("blue", 3): 0.0,
        ("blue", 7): 1.0,
    }


def test_errors_name_the_problem() -> None:
    with pytest.raises(TypeError, match="sequence 0 is a str"):
        window_cooccurrence(["a b c"])
    with pytest.raises(ValueError, match="window must be >= 1"):
        window_cooccurrence([["a"]], window=0)
    with pytest.raises(ValueError, match="one entry per sample"):
        paired_cooccurrence([["a"]], [1, 2])
    with pytest.raises(KeyError, match="'zzz' is not a row"):
        window_cooccurrence([["a", "b"]]).row_index("zzz")
