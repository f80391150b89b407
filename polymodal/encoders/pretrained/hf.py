"""Any Hugging Face model as a text, image or audio backbone: ``hf:NAME_OR_PATH``.

``--encoder text=hf:sentence-transformers/all-MiniLM-L6-v2``, ``--encoder image=hf:/models/dinov2``,
``encoders={"audio": "hf:facebook/wav2vec2-base"}``. The model is loaded with ``AutoModel``, its
processor with ``AutoTokenizer`` / ``AutoImageProcessor`` / ``AutoFeatureExtractor`` (see
:mod:`~polymodal.encoders.pretrained.hf_loading`: a local folder is read offline). Its family (from
``config.json``'s ``model_type``, :mod:`~polymodal.encoders.pretrained.hf_families`) decides the kind
it encodes, how its inputs are prepared (:mod:`~polymodal.encoders.pretrained.hf_inputs`) and its
default pooling; a two-tower checkpoint (CLIP, SigLIP, CLAP) given for one kind uses that kind's tower.

Options (encoder arguments, also seen by the preprocessing): ``pooling`` (``cls``, ``mean`` or
``pooler``; default per family, or the sentence-transformers folder's own pooling and normalisation),
``max_length`` (text: tokens kept, longer text is truncated; default the model's maximum) and
``max_seconds`` (audio: seconds kept, longer audio is truncated to its start; default the feature
extractor's window, or 10 s). Loading runs the model once on a dummy sample, so a processor that does
not fit the model is an error at load time, not in the middle of training.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from polymodal.data.kinds import ModalityKind
from polymodal.encoders.pretrained.backbone import Backbone, evaluating
from polymodal.encoders.pretrained.blocks import ParamGroup, split_blocks
from polymodal.encoders.pretrained.hf_families import POOLINGS, HFFamily, UnknownFamilyError, family_of_type
from polymodal.encoders.pretrained.hf_inputs import AudioInputs, ModelInputs, Packing, PixelInputs, TokenInputs
from polymodal.encoders.pretrained.hf_loading import (
    PREFIX,
    HFLoadError,
    HFSource,
    fingerprint,
    load_config,
    load_model,
    load_processor,
    model_digest,
    processor_settings,
    resolve_source,
    sentence_pooling,
)
from polymodal.encoders.pretrained.pooling import pool
from polymodal.errors import PolymodalError

PROCESSORS = {"tokens": "AutoTokenizer", "pixels": "AutoImageProcessor", "waveform": "AutoFeatureExtractor",
              "spectrogram": "AutoFeatureExtractor"}
KIND_OPTIONS = {"max_length": ModalityKind.TEXT, "max_seconds": ModalityKind.AUDIO}


def family_for(source: HFSource, config: Any) -> HFFamily:
    """The family of the model at ``source`` (its config's ``model_type``)."""
    try:
        return family_of_type(str(getattr(config, "model_type", "")))
    except UnknownFamilyError as exc:
        raise HFLoadError(f"{source.label()}: {exc}") from exc


_KINDS: dict[tuple[Any, ...], ModalityKind] = {}


def hf_kind(ref: str) -> ModalityKind:
    """The kind an ``hf:`` model encodes (only its config is read, once per process and folder state)."""
    key = (ref, fingerprint(ref))
    if key not in _KINDS:
        source = resolve_source(ref)
        _KINDS[key] = family_for(source, load_config(source)).kind
    return _KINDS[key]


class HFBackbone(Backbone):
    """The model ``hf:REF`` (see the module docstring); ``kind`` and ``output_dim`` come from the model."""

    name = "hf"
    kind = ModalityKind.TEXT  # per instance: the family's
    defaults: ClassVar[Mapping[str, Any]] = {"pooling": None, "max_length": None, "max_seconds": None}

    def __init__(self, ref: str, weights: str | None = None, **options: Any) -> None:
        super().__init__(weights, **options)
        self.source = resolve_source(ref)
        self.label = self.source.label()
        if weights is not None:
            raise ValueError(f"{self.label} takes its weights from the name or folder after hf:; drop weights=")
        config = load_config(self.source)
        self.family = family_for(self.source, config)
        self.kind = self.family.kind
        self.model_type = str(config.model_type)
        for option, kind in KIND_OPTIONS.items():
            if options.get(option) is not None and kind is not self.kind:
                raise ValueError(f"{option} is an option of {kind.value} models; {self.label} encodes "
                                 f"{self.kind.value}")
        self.model = load_model(self.source, self.family.tower(self.model_type))
        processor = load_processor(self.source, PROCESSORS[self.family.inputs])
        folder_pooling, self.normalise = sentence_pooling(self.source.folder)
        self.pooling = str(options.get("pooling") or folder_pooling or self.family.pooling)
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling={self.pooling!r} is not a pooling; use one of {', '.join(POOLINGS)}")
        self.inputs = self._inputs(processor, options)
        if self.pooling != "pooler" and isinstance(getattr(self.model, "pooler", None), nn.Module) \
                and any(True for _ in self.model.pooler.parameters()):
            self.model.pooler = None  # unused (BERT's, ViT's): its weights would never train
        self.options = {"pooling": self.pooling, **self.inputs.options}
        self.processor_settings = processor_settings(processor)
        self.packing, self.output_dim = self._probe()
        self.weights_id = model_digest(self.source)

    def _inputs(self, processor: Any, options: Mapping[str, Any]) -> ModelInputs:
        inputs = self.family.inputs
        if inputs == "tokens":
            return TokenInputs(processor, self.model, self.label, options.get("max_length"))
        if inputs == "pixels":
            return PixelInputs(processor)
        return AudioInputs(processor, self.model, self.label, inputs == "waveform", options.get("max_seconds"))

    def _probe(self) -> tuple[Packing, int]:
        """Run the model once on a dummy sample: the input layout, the output size, and a clear error when
        the processor's output does not fit the model."""
        features = self.inputs.features([self.inputs.dummy()])
        packing = Packing.of(features)
        kwargs, mask = self.inputs.call(features)
        try:
            with torch.no_grad():
                outputs = self.model(**kwargs)
        except PolymodalError:
            raise
        except Exception as exc:  # an error inside the model: its inputs are not those it was built for
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise HFLoadError(f"the processor of {self.label} gives inputs its model cannot take "
                              f"({type(exc).__name__}: {detail}); the processor files (preprocessor_config.json, "
                              "tokenizer files) do not belong to this model: save the model's own processor "
                              "beside it") from exc
        return packing, int(self._pool(outputs, mask).shape[1])

    def _pool(self, outputs: Any, mask: Tensor | None) -> Tensor:
        states = getattr(outputs, "last_hidden_state", None)
        if states is not None and states.dim() == 3:
            mask = self.inputs.output_mask(mask, states.shape[1])
        try:
            pooled = pool(outputs, self.pooling, mask)
        except ValueError as exc:
            raise ValueError(f"{self.label}: {exc}") from exc
        return nn.functional.normalize(pooled, dim=-1) if self.normalise else pooled

    # ------------------------------------------------------------------ Backbone contract
    def prepare(self, cells: Sequence[Any]) -> Tensor:
        if not cells:
            return torch.zeros((0, self.packing.size), dtype=self.packing.dtype)
        return self.packing.pack(self.inputs.features(list(cells)))

    def input_shape(self) -> tuple[int, ...]:
        return (self.packing.size,)

    def forward(self, x: Tensor) -> Tensor:
        kwargs, mask = self.inputs.call(self.packing.unpack(x))
        return self._pool(self.model(**kwargs), mask)

    def identity(self) -> dict[str, Any]:
        return {"encoder": f"hf-{self.model_type}", "family": self.family.name, "weights": self.weights_id,
                "options": dict(self.options), "processor": self.processor_settings, "dim": self.output_dim,
                "normalise": self.normalise}

    def blocks(self) -> list[nn.Module]:
        """Stem, layers, last layer with the head (:func:`~polymodal.encoders.pretrained.blocks.split_blocks`);
        parameters that do not reach the output (found with one backward pass) are frozen and in no block."""
        used = self._used_parameters()
        for name, param in self.model.named_parameters():
            if name not in used:
                param.requires_grad_(False)
        groups: list[nn.Module] = list(split_blocks(self.model, used))
        return groups

    def lora_targets(self) -> tuple[str, ...]:
        """The modules LoRA adapts by default in this family (empty: the attention query/value pair)."""
        return self.family.lora_targets

    def _used_parameters(self) -> set[str]:
        params = dict(self.model.named_parameters())
        before = {n: p.requires_grad for n, p in params.items()}
        grads = {n: p.grad for n, p in params.items()}
        try:
            for p in params.values():
                p.requires_grad_(True)
                p.grad = None
            with evaluating(self), torch.enable_grad():
                self(self.prepare([self.inputs.dummy(), self.inputs.dummy()])).float().sum().backward()
            return {n for n, p in params.items() if p.grad is not None}
        finally:
            for n, p in params.items():
                p.requires_grad_(before[n])
                p.grad = grads[n]


def hf_name(ref: str) -> str:
    """``hf:REF`` (the encoder name) of a reference with or without the prefix."""
    return ref if ref.startswith(PREFIX) else f"{PREFIX}{ref}"


__all__ = ["HFBackbone", "ParamGroup", "family_for", "hf_kind", "hf_name"]
