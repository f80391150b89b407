import pytest
import torch

from polymodal.models.decoders import DecoderSet, ModalityDecoder

from .conftest import INFO, make_batch


@pytest.mark.parametrize("name", ["img", "tab", "txt"])
def test_decoders_give_the_input_layout_and_a_per_sample_loss(name: str) -> None:
    inputs, masks = make_batch(6)
    decoder = ModalityDecoder(4, INFO[name], hidden_dim=8)
    output = decoder(torch.randn(6, 4))
    assert decoder.reconstruct(output).shape == inputs[name].shape
    loss = decoder.nll(output, inputs[name])
    assert loss.shape == (6,) and torch.isfinite(loss).all() and (loss >= 0).all()
    masks[name][:3] = False
    decoders = DecoderSet(4, INFO, [name], hidden_dim=8)
    decoders.decoders[name] = decoder
    per_sample = decoders.losses({name: output}, inputs, masks)[name]
    assert (per_sample[:3] == 0).all() and torch.equal(per_sample[3:], loss[3:])


def test_continuous_loss_is_the_summed_squared_error() -> None:
    decoder = ModalityDecoder(2, {"kind": "vector", "dim": 3})
    output, target = torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[0.0, 2.0, 5.0]])
    assert float(decoder.nll(output, target)[0]) == pytest.approx(1.0 + 0.0 + 4.0)


def test_tabular_loss_adds_a_cross_entropy_per_categorical_column() -> None:
    decoder = ModalityDecoder(2, {"kind": "tabular", "n_numeric": 1, "cardinalities": [2]})
    output = torch.tensor([[0.5, 0.0, 0.0]])  # value 0.5, then equal logits for two categories
    target = torch.tensor([[1.5, 1.0]])
    assert float(decoder.nll(output, target)[0]) == pytest.approx(1.0 + torch.log(torch.tensor(2.0)).item())
    assert decoder.reconstruct(torch.tensor([[0.5, 0.1, 0.9]])).tolist() == [[0.5, 1.0]]


def test_missing_sizes_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="a image decoder needs 'height' in input_info"):
        ModalityDecoder(2, {"kind": "image", "channels": 1, "width": 3})


def test_num_layers_sets_the_hidden_layers_and_one_keeps_the_saved_layout() -> None:
    info = {"kind": "vector", "dim": 5}
    assert list(ModalityDecoder(2, info, hidden_dim=4).state_dict()) == ["trunk.0.weight", "trunk.0.bias",
                                                                           "trunk.2.weight", "trunk.2.bias"]
    deep = ModalityDecoder(2, info, hidden_dim=4, num_layers=3)
    assert [m.out_features for m in deep.trunk if isinstance(m, torch.nn.Linear)] == [4, 4, 4, 5]
    assert deep(torch.randn(3, 2)).shape == (3, 5)
    with pytest.raises(ValueError, match="a decoder needs at least one hidden layer; got num_layers=0"):
        ModalityDecoder(2, info, num_layers=0)
