"""Tiny random Hugging Face models of every hf: family, and saving them to a folder (no network).

Each is built from its ``transformers`` config (hidden sizes 8-16, one or two layers, 16-pixel
images, half-second audio) with its processor, and ``save_pretrained`` to its own folder: the same
folder a user names with ``hf:PATH``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "the", "cat", "dog", "sat", "on", "mat", "red", "blue",
         "ball", "car", "bird", "fell", "barked", "stock", "prices", "sharply"]
ATTENTION = {"hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 32}
IMAGE = {"image_size": 16, "patch_size": 8}
WAV = {"conv_dim": (8, 8, 8), "conv_stride": (5, 4, 4), "conv_kernel": (10, 4, 4), "num_conv_pos_embeddings": 4,
       "num_conv_pos_embedding_groups": 2, "mask_time_length": 2, "vocab_size": 10,
       "layerdrop": 0.0}  # layer drop would skip a layer (and its gradient) at random


def _vit_processor(t: Any) -> Any:
    return t.ViTImageProcessor(size={"height": 16, "width": 16})


def _clip_processor(t: Any) -> Any:
    return t.CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16})


def _wav_processor(t: Any) -> Any:
    return t.Wav2Vec2FeatureExtractor(sampling_rate=16000, return_attention_mask=True)


def _bert(t: Any) -> tuple[Any, Any]:
    config = t.BertConfig(vocab_size=len(VOCAB), max_position_embeddings=32, **ATTENTION)
    return t.BertModel(config), t.BertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)})


# family folder name -> (model, processor) builder; every hf: family is here at least once
BUILDERS: dict[str, Callable[[Any], tuple[Any, Any]]] = {
    "bert": _bert,
    "vit": lambda t: (t.ViTModel(t.ViTConfig(**IMAGE, **ATTENTION)), _vit_processor(t)),
    "dinov2": lambda t: (t.Dinov2Model(t.Dinov2Config(**IMAGE, hidden_size=16, num_hidden_layers=2,
                                                       num_attention_heads=2, mlp_ratio=2)), _vit_processor(t)),
    "convnext": lambda t: (t.ConvNextModel(t.ConvNextConfig(hidden_sizes=[8, 16], depths=[1, 1], num_stages=2)),
                           t.ConvNextImageProcessor(size={"shortest_edge": 16})),
    "resnet": lambda t: (t.ResNetModel(t.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1],
                                                      layer_type="basic")), _vit_processor(t)),
    "swin": lambda t: (t.SwinModel(t.SwinConfig(image_size=16, patch_size=4, embed_dim=8, depths=[1, 1],
                                                num_heads=[1, 2], window_size=2)), _vit_processor(t)),
    "clip-vision": lambda t: (t.CLIPVisionModel(t.CLIPVisionConfig(**IMAGE, **ATTENTION)), _clip_processor(t)),
    "clip": lambda t: (t.CLIPModel(t.CLIPConfig(text_config={**ATTENTION, "vocab_size": 40}, vision_config={
        **IMAGE, **ATTENTION}, projection_dim=8)), _clip_processor(t)),
    "siglip": lambda t: (t.SiglipModel(t.SiglipConfig(text_config={**ATTENTION, "vocab_size": 40}, vision_config={
        **IMAGE, **ATTENTION})), t.SiglipImageProcessor(size={"height": 16, "width": 16})),
    "wav2vec2": lambda t: (t.Wav2Vec2Model(t.Wav2Vec2Config(**ATTENTION, **WAV)), _wav_processor(t)),
    "hubert": lambda t: (t.HubertModel(t.HubertConfig(**ATTENTION, **WAV)), _wav_processor(t)),
    "wavlm": lambda t: (t.WavLMModel(t.WavLMConfig(**ATTENTION, **WAV)), _wav_processor(t)),
    "ast": lambda t: (t.ASTModel(t.ASTConfig(**ATTENTION, patch_size=4, max_length=24, num_mel_bins=16,
                                             frequency_stride=4, time_stride=4)),
                      t.ASTFeatureExtractor(num_mel_bins=16, max_length=24)),
    "whisper": lambda t: (t.WhisperModel(t.WhisperConfig(
        vocab_size=60, d_model=16, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_mel_bins=16, max_source_positions=50,
        max_target_positions=16, pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=1)),
        t.WhisperFeatureExtractor(feature_size=16, chunk_length=1)),
    "clap": lambda t: (t.ClapModel(t.ClapConfig(
        text_config={**ATTENTION, "vocab_size": 40, "max_position_embeddings": 40},
        audio_config={"spec_size": 32, "window_size": 2, "num_mel_bins": 16, "patch_size": 4, "patch_stride": (4, 4),
                      "hidden_size": 16, "depths": [1, 1], "num_attention_heads": [1, 2],
                      "patch_embeds_hidden_size": 8, "enable_fusion": False}, projection_dim=8)),
        t.ClapFeatureExtractor(feature_size=16, max_length_s=1, fft_window_size=400, hop_length=320,
                               sampling_rate=16000, truncation="rand_trunc", padding="repeatpad")),
}
KINDS = {"bert": "text", "wav2vec2": "audio", "hubert": "audio", "wavlm": "audio", "ast": "audio", "whisper": "audio",
         "clap": "audio"}


def kind_of(family: str) -> str:
    return KINDS.get(family, "image")


def save_tiny(name: str, folder: Path, seed: int = 0, sentence_transformers: bool = False) -> Path:
    """Build the tiny model ``name`` (seeded) with its processor and save both into ``folder``."""
    import torch
    import transformers

    torch.manual_seed(seed)
    model, processor = BUILDERS[name](transformers)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    if sentence_transformers:  # modules.json of a sentence-transformers folder: CLS pooling, then normalise
        (folder / "1_Pooling").mkdir(exist_ok=True)
        (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_cls_token": True}))
        (folder / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]))
    return folder
