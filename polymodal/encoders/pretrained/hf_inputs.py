"""A Hugging Face processor's inputs for a batch of raw cells, laid out in one tensor per batch.

The pipeline holds one tensor per modality, so the processor's outputs (``input_ids`` and
``attention_mask``; ``pixel_values``; ``input_values`` and ``attention_mask``; ``input_features``, ...)
are flattened side by side into ``[B, total]`` by a :class:`Packing` and split back before the model
runs. Each input kind uses the processor's own settings:

- ``tokens``: the tokenizer, truncating to ``max_length`` tokens (default and upper bound: the model's
  maximum length), padded at the end; the padding is trimmed before the model runs.
- ``pixels``: images as RGB through the image processor (its resize, crop and normalisation).
- ``waveform`` / ``spectrogram``: mono, resampled to the processor's ``sampling_rate``, truncated to
  the first ``max_seconds`` (default: the processor's own window — 30 s for Whisper, 10 s for CLAP,
  ~10.24 s for AST — or 10 s for waveform models such as wav2vec2, which take any length), then the
  feature extractor (waveform models: padded to ``max_seconds``, with an attention mask).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from polymodal.data.audio_features import resample
from polymodal.encoders.pretrained.hf_loading import HFLoadError

DEFAULT_MAX_SECONDS = 10.0
SANE_MAX_TOKENS = 1_000_000  # tokenizers without a limit report 1e30


@dataclass(frozen=True)
class Packing:
    """The layout of named tensors ``{name: [B, *shape]}`` in one ``[B, total]`` tensor."""

    fields: tuple[tuple[str, tuple[int, ...], torch.dtype], ...]

    @classmethod
    def of(cls, features: Mapping[str, Tensor]) -> Packing:
        return cls(tuple((k, tuple(v.shape[1:]), v.dtype) for k, v in features.items()))

    @property
    def dtype(self) -> torch.dtype:
        """``long`` when every field is an integer tensor (token ids are exact), else ``float32``."""
        integer = all(not d.is_floating_point and d is not torch.bool for _, _, d in self.fields)
        return torch.long if integer else torch.float32

    @property
    def size(self) -> int:
        return sum(int(np.prod(shape)) for _, shape, _ in self.fields)

    def pack(self, features: Mapping[str, Tensor]) -> Tensor:
        parts = []
        for name, shape, _ in self.fields:
            value = features[name]
            if tuple(value.shape[1:]) != shape:
                raise ValueError(f"the processor gave {name} of shape {tuple(value.shape[1:])} for one sample, and "
                                 f"{shape} before; polymodal needs inputs of one size (a processor that resizes to a "
                                 "fixed size, audio padded to max_seconds)")
            parts.append(value.reshape(len(value), -1).to(self.dtype))
        return torch.cat(parts, dim=1)

    def unpack(self, x: Tensor) -> dict[str, Tensor]:
        out, start = {}, 0
        for name, shape, dtype in self.fields:
            n = int(np.prod(shape))
            out[name] = x[:, start : start + n].reshape(len(x), *shape).to(dtype)
            start += n
        return out


def _accepted(model: Any) -> set[str]:
    return set(inspect.signature(model.forward).parameters)


class ModelInputs:
    """Raw cells to a processor's tensors, and those tensors to the model's keyword arguments."""

    options: dict[str, Any]

    def features(self, cells: Sequence[Any]) -> dict[str, Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def dummy(self) -> Any:  # pragma: no cover - abstract
        """One valid cell (to probe the model's output size and that processor and model agree)."""
        raise NotImplementedError

    def call(self, features: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], Tensor | None]:
        """The model's keyword arguments and the mask of valid input positions (None: all valid)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def output_mask(self, mask: Tensor | None, n_states: int) -> Tensor | None:
        """The input mask mapped to the model's ``n_states`` output positions."""
        return mask


class TokenInputs(ModelInputs):
    def __init__(self, tokenizer: Any, model: Any, label: str, max_length: int | None = None) -> None:
        config = model.config
        limit = int(getattr(tokenizer, "model_max_length", 0) or 0)
        if not 0 < limit < SANE_MAX_TOKENS:
            limit = int(getattr(config, "max_position_embeddings", 512) or 512)
        if max_length is not None and not 0 < int(max_length) <= limit:
            raise ValueError(f"max_length={max_length} for {label}, which takes 1 to {limit} tokens")
        vocab = getattr(config, "vocab_size", None)
        if vocab is not None and len(tokenizer) > int(vocab):
            raise HFLoadError(f"the tokenizer of {label} has {len(tokenizer)} tokens but the model only {vocab}: "
                              "tokenizer and model do not belong together (save the model's own tokenizer beside it)")
        tokenizer.padding_side = "right"  # call() trims trailing padding
        self.tokenizer = tokenizer
        self.options = {"max_length": int(max_length) if max_length is not None else limit}

    def features(self, cells: Sequence[Any]) -> dict[str, Tensor]:
        encoded = self.tokenizer([str(c) for c in cells], padding="max_length", truncation=True,
                                 max_length=self.options["max_length"], return_tensors="pt")
        return {"input_ids": encoded["input_ids"].long(), "attention_mask": encoded["attention_mask"].long()}

    def dummy(self) -> Any:
        return "a"

    def call(self, features: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], Tensor | None]:
        ids, mask = features["input_ids"], features["attention_mask"]
        used = max(1, int(mask.sum(dim=1).max())) if len(ids) else 1
        ids, mask = ids[:, :used], mask[:, :used]  # trailing padding changes nothing but the cost
        return {"input_ids": ids, "attention_mask": mask}, mask


class PixelInputs(ModelInputs):
    def __init__(self, processor: Any) -> None:
        self.processor = processor
        self.options = {}

    def features(self, cells: Sequence[Any]) -> dict[str, Tensor]:
        images = [Image.fromarray(np.asarray(c, dtype=np.uint8)).convert("RGB") for c in cells]
        return {"pixel_values": self.processor(images=images, return_tensors="pt")["pixel_values"].float()}

    def dummy(self) -> Any:
        return np.full((48, 40, 3), 128, dtype=np.uint8)

    def call(self, features: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], Tensor | None]:
        return {"pixel_values": features["pixel_values"]}, None


def processor_window(processor: Any) -> float | None:
    """The seconds of audio a feature extractor pads or cuts to (None: it takes any length)."""
    rate = float(processor.sampling_rate)
    for samples in ("n_samples", "nb_max_samples"):  # Whisper; CLAP
        if getattr(processor, samples, None):
            return float(getattr(processor, samples)) / rate
    if type(processor).__name__.startswith("AST") and getattr(processor, "max_length", None):
        return float(processor.max_length) * 0.01  # frames of 10 ms
    return None


class AudioInputs(ModelInputs):
    def __init__(self, processor: Any, model: Any, label: str, waveform: bool,
                 max_seconds: float | None = None) -> None:
        if not hasattr(processor, "sampling_rate"):
            raise HFLoadError(f"the processor of {label} ({type(processor).__name__}) is not an audio feature "
                              "extractor (it has no sampling_rate)")
        self.processor, self.model, self.waveform = processor, model, waveform
        self.rate = int(processor.sampling_rate)
        window = processor_window(processor)
        if max_seconds is not None and not float(max_seconds) > 0:
            raise ValueError(f"max_seconds must be a positive number of seconds, got {max_seconds}")
        if max_seconds is not None and window is not None and float(max_seconds) > window + 1e-9:
            raise ValueError(f"max_seconds={max_seconds} for {label}, whose feature extractor takes at most "
                             f"{window:g} s; give max_seconds <= {window:g} (longer audio is truncated)")
        seconds = float(max_seconds) if max_seconds is not None else (window or DEFAULT_MAX_SECONDS)
        self.options = {"max_seconds": seconds}
        self.n_samples = max(1, round(seconds * self.rate))
        self.pass_mask = bool(getattr(processor, "return_attention_mask", False)) or not waveform
        self.takes = _accepted(model)

    def _wave(self, cell: Any) -> np.ndarray:
        samples, rate = cell
        wav = np.asarray(samples, dtype=np.float32)
        wav = wav.mean(axis=1) if wav.ndim == 2 else wav
        return resample(wav, int(rate), self.rate)[: self.n_samples]  # longer audio: its first max_seconds

    def features(self, cells: Sequence[Any]) -> dict[str, Tensor]:
        waves = [self._wave(c) for c in cells]
        kwargs: dict[str, Any] = {"sampling_rate": self.rate, "return_tensors": "pt"}
        if self.waveform:
            kwargs.update(padding="max_length", max_length=self.n_samples, truncation=True,
                          return_attention_mask=True)
        elif "return_attention_mask" in inspect.signature(self.processor.__call__).parameters:
            kwargs["return_attention_mask"] = True
        encoded = self.processor(waves, **kwargs)
        return {k: v if v.dtype is torch.bool or not v.is_floating_point() else v.float()
                for k, v in encoded.items() if isinstance(v, Tensor)}

    def dummy(self) -> Any:
        return (np.zeros(self.rate // 2, dtype=np.float32), self.rate)

    def call(self, features: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], Tensor | None]:
        kwargs = {k: v for k, v in features.items() if k in self.takes and (k != "attention_mask" or self.pass_mask)}
        return kwargs, features.get("attention_mask")

    def output_mask(self, mask: Tensor | None, n_states: int) -> Tensor | None:
        if mask is None:
            return None
        valid = mask.sum(dim=1)
        lengths_of = getattr(self.model, "_get_feat_extract_output_lengths", None)
        if self.waveform and callable(lengths_of):  # wav2vec2-like: the convolutions' own arithmetic
            lengths = lengths_of(valid).long()
        else:
            lengths = torch.ceil(valid.double() * n_states / mask.shape[1]).long()
        lengths = lengths.clamp(1, n_states)
        return torch.arange(n_states, device=mask.device)[None, :] < lengths[:, None]
