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
