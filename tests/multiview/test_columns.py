"""Embeddings as vector table columns."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.data.cells import parse_vector
from polymodal.multiview import SVDEmbedding, token_vector_column, vector_column, window_cooccurrence


def test_vector_column_cells_parse_as_vectors() -> None:
    col = vector_column(np.arange(6.0).reshape(3, 2), index=["a", "b", "c"], name="emb")
    assert list(col.index) == ["a", "b", "c"] and col.name == "emb"
    np.testing.assert_array_equal(parse_vector(col["b"]), [2.0, 3.0])


def test_token_column_from_cooccurrence_embeddings() -> None:
    m = window_cooccurrence([["a", "b", "c", "a", "b"], ["c", "d"]], window=1)
    emb = SVDEmbedding(n_components=2, algorithm="exact").fit_transform(m.counts)
    col = token_vector_column([["a", "b"], "d", ["unknown"]], emb, m.rows)
    expected = (emb[m.row_index("a")] + emb[m.row_index("b")]) / 2
    np.testing.assert_allclose(col[0], expected, rtol=1e-6)
    np.testing.assert_allclose(col[1], emb[m.row_index("d")], rtol=1e-6)
    assert col[2] is None


def test_wrong_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="2-D array"):
        vector_column(np.zeros(3))
    with pytest.raises(ValueError, match="one row per vocabulary entry"):
        token_vector_column([["a"]], np.zeros((1, 2)), ["a", "b"])
