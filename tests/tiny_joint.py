"""Tiny random joint models saved with ``save_pretrained`` (no network): a CLIP with a byte-level BPE vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

CAPTIONS = ["a cat", "a dog", "a red cat", "a small dog", "cat and dog", "the dog", "one cat", "dog dog"]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character table (CLIP's BPE vocabulary is written in it)."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


def save_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """A CLIP (2 layers of width 16 per tower, 12 x 12 images, 8-d joint space) and its processor in ``folder``."""
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    tokens = [*chars, *(c + "</w>" for c in chars), "ca", "cat</w>", "do", "dog</w>", "<|startoftext|>",
              "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\nc a\nca t</w>\nd o\ndo g</w>\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    images = CLIPImageProcessorPil(size={"shortest_edge": 12}, crop_size={"height": 12, "width": 12})
    eos = vocab["<|endoftext|>"]
    config = CLIPConfig(
        text_config={"vocab_size": len(vocab), "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 16, "bos_token_id": vocab["<|startoftext|>"],
                     "eos_token_id": eos, "pad_token_id": eos},
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 12, "patch_size": 4},
        projection_dim=8,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(folder)
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def image_caption_table(folder: Path, n: int = 8, seed: int = 0) -> Path:
    """``t.csv`` in ``folder``: ``photo`` (PNG files, RGB and grey), ``caption`` and ``label`` (cat / dog)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        shape = (14, 18, 3) if i % 2 else (16, 16)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(folder / f"{i}.png")
        caption = f"{CAPTIONS[i % len(CAPTIONS)]} {i}"  # unique: inferred as text, not categorical
        rows.append({"photo": f"{i}.png", "caption": caption, "label": ["cat", "dog"][i % 2]})
    pd.DataFrame(rows).to_csv(folder / "t.csv", index=False)
    return folder / "t.csv"


def save_tiny_clap(folder: Path, seed: int = 0) -> Path:
    """A CLAP (HTSAT of 2 stages on 16 mel bands of 8 kHz audio, RoBERTa of 2 layers, 8-d joint space)."""
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, RobertaTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    tokens = ["<s>", "<pad>", "</s>", "<unk>", *_bytes_to_unicode().values(), "<mask>"]
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = RobertaTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"))
    features = ClapFeatureExtractor(feature_size=16, sampling_rate=8000, hop_length=160, max_length_s=1,
                                    fft_window_size=256, frequency_min=0, frequency_max=4000, truncation="rand_trunc")
    config = ClapConfig(
        text_config={"vocab_size": len(tokens), "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 34, "projection_dim": 8, "pad_token_id": 1,
                     "bos_token_id": 0, "eos_token_id": 2},
        audio_config={"spec_size": 32, "num_mel_bins": 16, "patch_size": 4, "patch_stride": (4, 4), "window_size": 4,
                      "depths": [1, 1], "num_attention_heads": [2, 2], "patch_embeds_hidden_size": 8, "hidden_size": 16,
                      "projection_dim": 8, "enable_fusion": False},
        projection_dim=8,
    )
    torch.manual_seed(seed)
    ClapModel(config).save_pretrained(folder)
    ClapProcessor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(folder)
    return folder


def audio_table(folder: Path, n: int = 6, seed: int = 0) -> Path:
    """``a.csv`` in ``folder``: ``clip`` (8 kHz WAV files of 0.2 to 1.4 s) and ``label`` (bark / meow)."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        sf.write(folder / f"{i}.wav", (0.1 * rng.normal(size=1600 + 1600 * i)).astype(np.float32), 8000)
    pd.DataFrame({"clip": [f"{i}.wav" for i in range(n)], "label": ["bark", "meow"] * (n // 2)}).to_csv(
        folder / "a.csv", index=False)
    return folder / "a.csv"


def save_tiny_siglip(folder: Path, clip: Path, seed: int = 0) -> Path:
    """A SigLIP (towers as the tiny CLIP's, 12 x 12 images) with the tiny CLIP's tokenizer (no sentencepiece here)."""
    from transformers import AutoTokenizer, SiglipConfig, SiglipImageProcessorPil, SiglipModel, SiglipProcessor

    tokenizer = AutoTokenizer.from_pretrained(clip)
    tower = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}
    config = SiglipConfig(text_config={**tower, "vocab_size": len(tokenizer), "max_position_embeddings": 16,
                                       "projection_size": 16},
                          vision_config={**tower, "image_size": 12, "patch_size": 4})
    torch.manual_seed(seed)
    SiglipModel(config).save_pretrained(folder)
    SiglipProcessor(image_processor=SiglipImageProcessorPil(size={"height": 12, "width": 12}),
                    tokenizer=tokenizer).save_pretrained(folder)
    return folder
