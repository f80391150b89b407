import pytest
import torch

from polymodal.encoders import ImageCNN


@pytest.mark.parametrize(("side", "stages"), [(8, 1), (16, 2), (32, 3), (64, 4)])
def test_stages_follow_the_image_size(side, stages):
    encoder = ImageCNN(channels=1, height=side, width=side, output_dim=4, base_channels=4)
    strided = [m for m in encoder.modules() if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2)]
    assert len(strided) == stages
    assert encoder(torch.randn(2, 1, side, side)).shape == (2, 4)


def test_errors():
    with pytest.raises(ValueError, match="sizes must be positive, got channels=0"):
        ImageCNN(channels=0, height=8, width=8)
    with pytest.raises(ValueError, match=r"ImageCNN expects input \[B, 3, 8, 8\], got \[2, 1, 8, 8\]"):
        ImageCNN(channels=3, height=8, width=8)(torch.zeros(2, 1, 8, 8))
