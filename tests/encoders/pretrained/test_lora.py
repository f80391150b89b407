"""LoRA on every hf: family (item 4 of issue 16): targets found per family, only adapters train and are saved."""

from __future__ import annotations

import pytest
import torch

from polymodal.encoders import build_encoder
from polymodal.encoders.pretrained import LoRAEncoder, TrainMode, load_backbone
from polymodal.encoders.pretrained.lora import LoRASettings
from tests.encoders.pretrained.test_hf import cells, options
from tests.encoders.pretrained.tiny_hf import BUILDERS, kind_of

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", list(BUILDERS))
def test_lora_on_every_family_trains_and_saves_only_the_adapters(hf_models, name):
    ref = f"hf:{hf_models[name]}"
    torch.manual_seed(0)
    encoder = LoRAEncoder(load_backbone(ref, **options(name)), LoRASettings(r=2), load_backbone(
        ref, **options(name)).lora_targets())
    assert encoder.targets  # found in the family's modules
    named = dict(encoder.named_parameters())
    trainable = [n for n, p in named.items() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    x = encoder.backbone.prepare(cells(kind_of(name)))
    with torch.no_grad():  # lora_B starts at zero: the adapted model starts as the base model
        before = encoder(x)
    for n in trainable:
        if "lora_B" in n:
            torch.nn.init.normal_(named[n], std=0.5)
    encoder.train()
    encoder(x).sum().backward()
    assert all(named[n].grad is not None for n in trainable)
    assert not any(p.grad is not None for n, p in named.items() if n not in trainable)
    state = encoder.state_dict()
    assert set(state) == set(trainable)  # the adapters alone
    again = LoRAEncoder(load_backbone(ref, **options(name)), LoRASettings(r=2), encoder.targets)
    again.load_state_dict(state)  # the base weights come from the base model
    encoder.eval()
    again.eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x), encoder(x))
        assert not torch.allclose(encoder(x), before)


def test_lora_settings_parse_and_bad_ones_are_clear_errors(hf_models):
    assert TrainMode.parse("lora").lora == LoRASettings()
    assert TrainMode.parse("lora:r=4,alpha=8,dropout=0.1,targets=query+key").lora == LoRASettings(
        4, 8.0, 0.1, ("query", "key"))
    with pytest.raises(ValueError, match=r"'rank=4' is not KEY=VALUE with KEY one of r, alpha, dropout, targets"):
        TrainMode.parse("lora:rank=4")
    with pytest.raises(ValueError, match=r"r=x is not a number|r='x' is not a number"):
        TrainMode.parse("lora:r=x")
    with pytest.raises(ValueError, match="needs r >= 1, alpha > 0 and 0 <= dropout < 1"):
        TrainMode.parse("lora:r=0")
    backbone = load_backbone(f"hf:{hf_models['bert']}")
    with pytest.raises(ValueError, match=r"LoRA targets \['nope'\] are not modules of BertModel"):
        LoRAEncoder(backbone, LoRASettings(targets=("nope",)))


def test_lora_needs_an_hf_backbone():
    with pytest.raises(ValueError, match="train='lora:r=8,alpha=16,dropout=0' needs an hf: backbone; 'minilm' is "
                                         "packaged"):
        build_encoder("minilm", {"pretrained": "minilm", "train": "lora:r=8", "embedding_dim": 384},
                      train="lora:r=8")


def test_lora_targets_the_model_never_calls_are_a_clear_error(hf_models):
    """WavLM computes attention from q_proj/v_proj's weights without calling them: adapters there never train."""
    backbone = load_backbone(f"hf:{hf_models['wavlm']}", max_seconds=0.5)
    with pytest.raises(ValueError, match=r"LoRA targets \['q_proj', 'v_proj'\] of WavLMModel are never called by its "
                                         "forward"):
        LoRAEncoder(backbone, LoRASettings(targets=("q_proj", "v_proj")))
