import pytest
import torch

from polymodal.encoders import RawEncoder


def test_image_and_audio_are_flattened():
    image = RawEncoder(kind="image", channels=2, height=3, width=4)
    x = torch.randn(5, 2, 3, 4)
    assert image.output_dim == 24 and torch.equal(image(x), x.reshape(5, 24))
    audio = RawEncoder(kind="audio", n_mels=6, n_frames=7)
    assert audio.output_dim == 42 and audio(torch.zeros(1, 1, 6, 7)).shape == (1, 42)


def test_tabular_codes_become_one_hot():
    encoder = RawEncoder(kind="tabular", n_numeric=1, cardinalities=[2, 3])
    out = encoder(torch.tensor([[0.5, 1.0, 2.0], [0.0, 0.0, 9.0]]))
    assert out.tolist() == [[0.5, 0.0, 1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 0.0, 1.0, 0.0, 0.0]]


def test_text_is_a_normalised_bag_of_words():
    encoder = RawEncoder(kind="text", vocab_size=5)
    out = encoder(torch.tensor([[2, 3, 2, 0], [0, 0, 0, 0]]))
    assert encoder.output_dim == 5
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.0, 2 / 3, 1 / 3, 0.0], [0.0] * 5]))


def test_missing_sizes_are_an_error():
    with pytest.raises(ValueError, match="a raw image encoder needs height, width"):
        RawEncoder(kind="image", channels=3)
    with pytest.raises(ValueError, match="'sound' is not a valid ModalityKind"):
        RawEncoder(kind="sound")
