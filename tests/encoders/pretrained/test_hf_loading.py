"""Robust loading of hf: models (item 5 of issue 16): every failure a clear error, never a transformers traceback."""

from __future__ import annotations

import numpy as np
import pytest

from polymodal.data.preprocessing import build_preprocessor
from polymodal.encoders.pretrained import HFLoadError, load_backbone, with_pretrained_preprocessing
from tests.encoders.pretrained.tiny_hf import BUILDERS, save_tiny

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(HFLoadError, match=r"no model folder at .*nothing-here \(hf:.*\); check the path"):
        load_backbone(f"hf:{tmp_path / 'nothing-here'}")
    (tmp_path / "empty").mkdir()
    with pytest.raises(HFLoadError, match=r"has no config\.json: it is not a transformers model folder"):
        load_backbone(f"hf:{tmp_path / 'empty'}")


def test_a_hub_name_without_network_is_a_clear_error(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # as with no network: nothing is fetched
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(HFLoadError, match=r"cannot load the config of hf:polymodal-tests/no-such-model: .*"
                                          r"'polymodal-tests/no-such-model' is not a local folder and the Hugging "
                                          r"Face hub could not provide it: check the name and the network"):
        load_backbone("hf:polymodal-tests/no-such-model")


def test_a_model_saved_without_its_processor_is_a_clear_error(tmp_path):
    import transformers

    model, _ = BUILDERS["vit"](transformers)
    model.save_pretrained(tmp_path / "vit")
    with pytest.raises(HFLoadError, match=r"cannot load the image processor of hf:.*vit: .*does not hold a complete "
                                          "image processor; save it there with save_pretrained"):
        load_backbone(f"hf:{tmp_path / 'vit'}")


def test_a_processor_that_does_not_fit_the_model_is_a_clear_error(tmp_path):
    import transformers

    folder = save_tiny("vit", tmp_path / "vit")
    transformers.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)  # the model takes 16
    with pytest.raises(HFLoadError, match=r"gives inputs its model cannot take .*do not belong to this model"):
        load_backbone(f"hf:{folder}")
    text = save_tiny("bert", tmp_path / "bert")
    transformers.BertTokenizerFast(vocab={f"w{i}": i for i in range(100)}).save_pretrained(text)  # 100 > 22 tokens
    with pytest.raises(HFLoadError, match=r"the tokenizer of .* has 10[0-9] tokens but the model only 22: "
                                          "tokenizer and model do not belong together"):
        load_backbone(f"hf:{text}")


def test_a_model_of_an_unknown_family_is_a_clear_error(tmp_path):
    import transformers

    transformers.GPT2Model(transformers.GPT2Config(n_embd=8, n_layer=1, n_head=2)).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(HFLoadError, match=r"model_type 'gpt2' is not a model family polymodal can use as an encoder; "
                                          r"known model types: text \(bert\): bert"):
        load_backbone(f"hf:{tmp_path / 'gpt2'}")


def test_a_model_of_the_wrong_kind_for_the_column_is_a_clear_error(hf_models):
    text_model = f"hf:{hf_models['bert']}"
    with pytest.raises(ValueError, match=rf"encoder '{text_model}' encodes text but modality 'photo' is image; "
                                         "choose a model that encodes image"):
        with_pretrained_preprocessing({}, {"photo": text_model}, {}, {"photo": "image"})
    with pytest.raises(ValueError, match=rf"encoder '{text_model}' encodes text, not image \(column 'photo'\)"):
        build_preprocessor("image", ["photo"], {"photo": "image"}, pretrained=text_model)


@pytest.mark.parametrize(("name", "option", "message"), [
    ("vit", {"max_length": 8}, "max_length is an option of text models; hf:.* encodes image"),
    ("bert", {"max_length": 64}, "max_length=64 for hf:.*, which takes 1 to 32 tokens"),
    ("whisper", {"max_seconds": 5}, "max_seconds=5 for hf:.*, whose feature extractor takes at most 1 s"),
    ("convnext", {"pooling": "cls"}, "pooling=cls needs a transformer's token states, and this model gives a "
                                     "feature map"),
    ("vit", {"pooling": "max"}, "pooling='max' is not a pooling; use one of cls, mean, pooler"),
    ("vit", {"colour": 1}, r"unknown option\(s\) \['colour'\] for pretrained encoder 'hf'"),
])
def test_bad_options_are_clear_errors(hf_models, name, option, message):
    with pytest.raises(ValueError, match=message):
        load_backbone(f"hf:{hf_models[name]}", **option)


def test_a_sentence_transformers_folder_with_broken_modules_json_is_a_clear_error(tmp_path):
    folder = save_tiny("bert", tmp_path / "st", sentence_transformers=True)
    (folder / "modules.json").write_text("{not json")
    with pytest.raises(HFLoadError, match=r"modules.json is not valid JSON"):
        load_backbone(f"hf:{folder}")


def test_a_hub_name_in_the_hugging_face_cache_loads_offline_with_the_digest_of_its_files(tmp_path, monkeypatch):
    """The hub path a user's hf:ORG/NAME takes, offline: the snapshot the hub client left in its cache."""
    import huggingface_hub.constants

    repo = tmp_path / "hub" / "models--polymodal-tests--tiny-vit"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)
    snapshot = save_tiny("vit", repo / "snapshots" / ("0" * 40))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    from_hub = load_backbone("hf:polymodal-tests/tiny-vit")
    from_folder = load_backbone(f"hf:{snapshot}")
    assert from_hub.source.folder is None and from_hub.weights_id == from_folder.weights_id
    image = [np.full((8, 8, 3), 9, np.uint8)]
    np.testing.assert_array_equal(from_hub.embed(image), from_folder.embed(image))
