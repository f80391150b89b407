import numpy as np
import pandas as pd
import pytest
import torch

from polymodal.data.preprocessing import ImagePreprocessor, NotFittedError


def gray(value, h=8, w=8):
    return np.full((h, w), value, dtype=np.uint8)


def random_images(n, shape, seed):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=shape, dtype=np.uint8) for _ in range(n)]


def test_statistics_are_those_of_the_training_rows_alone():
    train_imgs = random_images(5, (8, 8), seed=0)
    train = pd.DataFrame({"img": train_imgs})
    other = pd.DataFrame({"img": [gray(255), gray(0), None]})
    pre = ImagePreprocessor("img").fit(train)
    before = pre.get_state()
    out = pre.transform(other)
    after = pre.get_state()
    assert json_equal(before, after)
    pixels = np.stack(train_imgs).astype(np.float64) / 255.0
    np.testing.assert_allclose(pre.mean_, [pixels.mean()])
    np.testing.assert_allclose(pre.std_, [pixels.std()])
    expected = (1.0 - pixels.mean()) / pixels.std()
    torch.testing.assert_close(out[0], torch.full((1, 8, 8), expected, dtype=torch.float32))


def json_equal(a, b):
    (sa, aa), (sb, ab) = a, b
    return sa == sb and aa.keys() == ab.keys() and all(np.array_equal(aa[k], ab[k]) for k in aa)


def test_size_is_the_median_side_clipped_and_overridable():
    frame = pd.DataFrame({"img": [gray(1, 10, 12), gray(2, 20, 20), gray(3, 30, 30)]})
    assert ImagePreprocessor("img").fit(frame).input_info() == {
        "kind": "image",
        "channels": 1,
        "height": 20,
        "width": 20,
    }
    assert ImagePreprocessor("img").fit(pd.DataFrame({"img": [gray(1, 2, 3)]})).size_ == 8
    assert ImagePreprocessor("img").fit(pd.DataFrame({"img": [gray(1, 100, 90)]})).size_ == 64
    out = ImagePreprocessor("img", image_size=16).fit(frame).transform(frame)
    assert out.shape == (3, 1, 16, 16)


def test_channels_fitted_from_training_images():
    rgb = np.zeros((8, 8, 3), dtype=np.uint8)
    rgb[..., 0] = 200
    mixed = pd.DataFrame({"img": [gray(10), rgb]})
    pre = ImagePreprocessor("img").fit(mixed)
    assert pre.input_info()["channels"] == 3
    out = pre.transform(mixed)
    assert out.shape == (2, 3, 8, 8)
    # the grayscale image becomes three equal channels (before per-channel normalisation)
    raw = (
        out[0] * torch.tensor(pre.std_, dtype=torch.float32)[:, None, None]
        + torch.tensor(pre.mean_, dtype=torch.float32)[:, None, None]
    )
    torch.testing.assert_close(raw, torch.full((3, 8, 8), 10 / 255))
    gray_pre = ImagePreprocessor("img", channels=1).fit(mixed)
    assert gray_pre.transform(mixed).shape == (2, 1, 8, 8)


def test_missing_rows_are_zeros_and_not_present(round_trip):
    frame = pd.DataFrame({"img": [gray(10), None, gray(50), float("nan")]})
    pre = ImagePreprocessor("img").fit(frame)
    np.testing.assert_array_equal(pre.present(frame), [True, False, True, False])
    out = pre.transform(frame)
    assert torch.all(out[1] == 0) and torch.all(out[3] == 0)
    assert not torch.all(out[0] == 0)


def test_round_trip_gives_identical_output(round_trip):
    train = pd.DataFrame({"img": random_images(4, (12, 9, 3), seed=1)})
    test = pd.DataFrame({"img": [*random_images(2, (20, 20), seed=2), None]})
    pre = ImagePreprocessor("img").fit(train)
    loaded = round_trip(pre)
    assert isinstance(loaded, ImagePreprocessor)
    assert torch.equal(loaded.transform(test), pre.transform(test))
    assert loaded.input_info() == pre.input_info()


def test_errors():
    frame = pd.DataFrame({"img": [gray(1)]})
    with pytest.raises(NotFittedError, match=r"not fitted; call fit\(\) on the training rows before transform"):
        ImagePreprocessor("img").transform(frame)
    bad = pd.DataFrame({"img": [gray(1), np.zeros((4, 4), dtype=np.float32)]}, index=[3, 7])
    with pytest.raises(TypeError, match=r"column 'img', row 7: expected a uint8 image, got dtype float32"):
        ImagePreprocessor("img").fit(bad)
    with pytest.raises(ValueError, match=r"row 0: expected an image \(H, W\) or \(H, W, 3\)"):
        ImagePreprocessor("img").fit(pd.DataFrame({"img": [np.zeros((2, 2, 2, 2), np.uint8)]}))
    with pytest.raises(ValueError, match="image column 'img' has no values in the training rows"):
        ImagePreprocessor("img").fit(pd.DataFrame({"img": [None, None]}))
    with pytest.raises(ValueError, match=r"no column\(s\) \['img'\]"):
        ImagePreprocessor("img").fit(pd.DataFrame({"other": [gray(1)]}))
    with pytest.raises(ValueError, match="channels must be 1, 3 or None"):
        ImagePreprocessor("img", channels=2)


@pytest.mark.parametrize("shape", [(8, 8), (8, 8, 3)])
def test_inverse_transform_gives_back_the_pixels(shape):
    images = random_images(6, shape, seed=3)
    frame = pd.DataFrame({"img": images})
    pre = ImagePreprocessor("img").fit(frame)
    back = pre.inverse_transform(pre.transform(frame))
    assert all(b.dtype == np.uint8 and b.shape == shape for b in back)
    assert max(int(np.abs(b.astype(int) - i.astype(int)).max()) for b, i in zip(back, images)) <= 1
    far = pre.inverse_transform(torch.full((1, *pre.transform(frame).shape[1:]), 1e6))[0]
    assert (far == 255).all()  # out-of-range values are clipped, not wrapped
    with pytest.raises(ValueError, match=r"expected images \[N, "):
        pre.inverse_transform(torch.zeros(2, 1, 4, 4))
    with pytest.raises(NotFittedError):
        ImagePreprocessor("img").inverse_transform(torch.zeros(1, 1, 8, 8))


def test_max_image_pixels_is_an_option_saved_with_the_state():
    from polymodal.data.preprocessing import preprocessor_from_state

    pre = ImagePreprocessor("img", max_image_pixels=1234).fit(pd.DataFrame({"img": [gray(1), gray(2)]}))
    assert pre.options()["max_image_pixels"] == 1234
    assert preprocessor_from_state(*pre.get_state()).max_image_pixels == 1234
    assert ImagePreprocessor("img").max_image_pixels == 50_000_000
    with pytest.raises(ValueError, match=r"max_image_pixels must be a positive whole number of pixels, got 0"):
        ImagePreprocessor("img", max_image_pixels=0)
