import pytest
import torch

from polymodal.encoders import TabularMLP
from polymodal.encoders.tabular_mlp import embedding_size


def test_embedding_sizes():
    assert [embedding_size(c) for c in (1, 2, 5, 31, 32, 1000)] == [1, 1, 3, 16, 16, 16]


@pytest.mark.parametrize(("n_numeric", "cardinalities"), [(0, [3, 5]), (4, []), (2, [2])])
def test_numeric_only_categorical_only_and_both(n_numeric, cardinalities):
    encoder = TabularMLP(n_numeric=n_numeric, cardinalities=cardinalities, output_dim=6)
    codes = [float(c - 1) for c in cardinalities]
    x = torch.tensor([[0.5] * n_numeric + codes, [0.0] * (n_numeric + len(cardinalities))])
    out = encoder(x)
    assert out.shape == (2, 6) and torch.isfinite(out).all()


def test_category_code_selects_its_embedding():
    encoder = TabularMLP(n_numeric=0, cardinalities=[3], output_dim=2).eval()
    out = encoder(torch.tensor([[1.0], [2.0], [1.0], [7.0], [0.0]]))  # 7 is out of range -> unknown (0)
    torch.testing.assert_close(out[0], out[2])
    torch.testing.assert_close(out[3], out[4])
    assert not torch.allclose(out[0], out[1])


def test_errors():
    with pytest.raises(ValueError, match="needs at least one numeric or categorical column"):
        TabularMLP(n_numeric=0, cardinalities=[])
    with pytest.raises(ValueError, match="every cardinality >= 1"):
        TabularMLP(n_numeric=1, cardinalities=[0])
