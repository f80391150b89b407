"""Every augmentation meets one contract; each one does what it says; specs are checked."""

from __future__ import annotations

import pytest
import torch

from polymodal.augment import AUGMENTATIONS, DEFAULTS, Augmenter, build_augmentation
from polymodal.augment.audio import FrequencyMask, TimeMask, TimeShift
from polymodal.augment.base import GaussianNoise
from polymodal.augment.image import GaussianBlur, RandomCrop, RandomFlip
from polymodal.augment.text import WordDropout
from polymodal.data.kinds import ModalityKind

BATCHES = {
    ModalityKind.IMAGE: lambda: torch.randn(4, 3, 12, 10),
    ModalityKind.AUDIO: lambda: torch.randn(4, 1, 20, 30),
    ModalityKind.TEXT: lambda: torch.tensor([[5, 6, 7, 0, 0], [2, 3, 4, 5, 6], [9, 0, 0, 0, 0], [4, 4, 4, 4, 0]]),
    ModalityKind.VECTOR: lambda: torch.randn(4, 7),
}


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_contract_shape_dtype_seeded_and_changes_its_kinds(name):
    cls = AUGMENTATIONS.get(name).factory
    assert isinstance(cls, type)
    for kind in cls.kinds:
        x = BATCHES[kind]()
        augment = AUGMENTATIONS.create(name)
        torch.manual_seed(0)
        y = augment(x)
        torch.manual_seed(0)
        again = augment(x)
        assert y.shape == x.shape and y.dtype == x.dtype
        assert torch.equal(y, again)  # the global generator decides: seeded runs repeat
        assert not torch.equal(y, x) or name in ("flip", "time_shift", "blur")  # may draw the identity for a sample
        assert list(augment.parameters()) == []
    wrong = next(k for k in ModalityKind if k not in cls.kinds)
    with pytest.raises(ValueError, match=f"augmentation '{name}' applies to"):
        build_augmentation("m", wrong, [name])


def test_augmenter_is_the_identity_in_eval_mode_and_for_modalities_without_augmentations():
    augmenter = Augmenter.from_spec({"image": "default"}, {"photo": "image", "clip": "audio"})
    batch = {"photo": torch.randn(2, 1, 8, 8), "clip": torch.randn(2, 1, 4, 6)}
    assert torch.equal(augmenter.eval()(batch)["photo"], batch["photo"])
    out = augmenter.train()(batch)
    assert torch.equal(out["clip"], batch["clip"]) and not torch.equal(out["photo"], batch["photo"])
    assert list(augmenter.augmentations) == ["photo"] and bool(augmenter)
    assert not Augmenter.from_spec({}, {"photo": "image"})


def test_a_modalitys_own_entry_wins_over_its_kinds_and_defaults_follow_the_kind():
    augmenter = Augmenter.from_spec({"image": "default", "b": "none", "audio": {"noise": {"std": 0.5}}},
                                    {"a": "image", "b": "image", "c": "audio"})
    assert set(augmenter.augmentations) == {"a", "c"}
    assert [type(m) for m in augmenter.augmentations["a"]] == [RandomCrop, GaussianNoise]
    assert augmenter.augmentations["c"][0].std == 0.5
    assert set(DEFAULTS) == set(ModalityKind)


@pytest.mark.parametrize(("spec", "message"), [
    ({"sound": "default"}, "unknown modality or kind"),
    ({"image": ["rotate"]}, "unknown augmentation 'rotate'"),
    ({"image": {"crop": {"size": 3}}}, "unknown argument"),
    ({"image": 3}, "must be 'default', 'none'"),
])
def test_bad_specs_are_clear_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        Augmenter.from_spec(spec, {"photo": "image"})


def test_flip_mirrors_and_full_crop_is_the_identity():
    x = torch.randn(3, 1, 5, 6)
    assert torch.equal(RandomFlip(p=1.0)(x), x.flip(-1)) and torch.equal(RandomFlip(p=0.0)(x), x)
    torch.testing.assert_close(RandomCrop(scale=(1.0, 1.0), ratio=(1.0, 1.0))(x), x)
    with pytest.raises(ValueError, match="scale must be in"):
        RandomCrop(scale=(0.0, 1.0))


def test_a_small_crop_zooms_in():
    x = torch.zeros(1, 1, 32, 32)
    x[..., 15:17, 15:17] = 1.0  # a dot in the middle; a quarter-area centred crop makes it 4x larger
    torch.manual_seed(0)
    crop = RandomCrop(scale=(0.25, 0.25), ratio=(1.0, 1.0))
    y = crop(x)
    assert y.sum() > 2 * x.sum()


def test_time_shift_rolls_each_sample_and_masks_zero_bounded_bands():
    x = torch.arange(40.0).view(1, 1, 2, 20).repeat(3, 1, 1, 1)
    y = TimeShift(max_fraction=0.2)(x)
    for row in range(3):
        shifts = [s for s in range(-4, 5) if torch.equal(torch.roll(x[row], s, dims=-1), y[row])]
        assert shifts, "each sample is rolled by at most 20% of its frames"
    ones = torch.ones(64, 1, 10, 50)
    masked = TimeMask(max_width=0.1, count=1)(ones)
    zero_frames = (masked[:, 0, 0, :] == 0).sum(dim=1)
    assert zero_frames.max() <= 5 and (masked == 0).any()
    assert torch.equal(masked[:, :, 0], masked[:, :, 9])  # a time mask covers every mel bin
    freq = FrequencyMask(max_width=0.3, count=1)(ones)
    assert (freq[:, 0, :, 0] == 0).sum(dim=1).max() <= 3
    assert torch.equal(freq[..., 0], freq[..., 49])  # a frequency mask covers every frame


def test_word_dropout_keeps_padding_and_noise_has_its_std():
    x = BATCHES[ModalityKind.TEXT]()
    y = WordDropout(p=1.0)(x)
    assert torch.equal(y == 0, x == 0) and (y[x != 0] == 1).all()
    assert torch.equal(WordDropout(p=0.0)(x), x)
    torch.manual_seed(0)
    noise = GaussianNoise(std=0.3)(torch.zeros(20_000))
    assert abs(float(noise.std()) - 0.3) < 0.01


def test_blur_spreads_a_point_as_the_separable_gaussian_and_keeps_constant_images():
    x = torch.zeros(1, 1, 9, 9)
    x[0, 0, 4, 4] = 1.0
    y = GaussianBlur(sigma=(1.0, 1.0), p=1.0)(x)
    g = torch.exp(-0.5 * torch.arange(-3.0, 4.0) ** 2)
    g = g / g.sum()
    torch.testing.assert_close(y[0, 0, 1:8, 1:8], torch.outer(g, g))  # radius 3 = ceil(3 sigma)
    torch.testing.assert_close(y.sum(), torch.tensor(1.0))
    flat = torch.full((2, 3, 6, 7), 0.7)
    torch.testing.assert_close(GaussianBlur(p=1.0)(flat), flat)  # reflected borders: no darkened edge
    assert torch.equal(GaussianBlur(p=0.0)(x), x)
    with pytest.raises(ValueError, match="sigma is a"):
        GaussianBlur(sigma=(0.0, 1.0))
