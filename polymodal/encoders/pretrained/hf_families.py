"""The model families an ``hf:`` backbone can be: what each encodes, how its input is prepared and pooled.

A family is chosen from the ``model_type`` of the model's ``config.json`` (its architecture). Each
entry says the modality kind it encodes, how its processor's output is fed to it (``inputs``), the
default pooling of its outputs, and, for two-tower checkpoints (CLIP, SigLIP, CLAP), which tower
encodes that kind. ``polymodal encoders`` lists this table.

Pooling: ``cls`` (the first token's state), ``mean`` (the mean of the states over the attention
mask, or over all positions / the whole feature map), ``pooler`` (the model's ``pooler_output``:
ConvNeXt/ResNet/Swin global pooling, CLIP's post-layer-norm class token, SigLIP's attention head).

Example
-------
>>> family_of_type("dinov2").pooling, family_of_type("dinov2").kind.value
('cls', 'image')
"""

from __future__ import annotations

from dataclasses import dataclass

from polymodal.data.kinds import ModalityKind

POOLINGS = ("cls", "mean", "pooler")
INPUTS = ("tokens", "pixels", "waveform", "spectrogram")


@dataclass(frozen=True)
class HFFamily:
    """One family of Hugging Face models (see the module docstring)."""

    name: str
    kind: ModalityKind
    model_types: tuple[str, ...]
    inputs: str  # tokens | pixels | waveform | spectrogram
    pooling: str  # the default, overridable with the encoder argument ``pooling``
    example: str  # a hub name of the family
    towers: tuple[tuple[str, str], ...] = ()  # (model_type of a two-tower checkpoint, attribute of this kind's tower)
    lora_targets: tuple[str, ...] = ()  # default: the attention query/value projections, found by name

    def tower(self, model_type: str) -> str | None:
        """The attribute of a ``model_type`` checkpoint that holds this family's encoder (None: the model)."""
        return dict(self.towers).get(model_type)


FAMILIES: tuple[HFFamily, ...] = (
    HFFamily("bert", ModalityKind.TEXT,
             ("bert", "roberta", "xlm-roberta", "distilbert", "albert", "electra", "camembert", "mpnet",
              "deberta", "deberta-v2", "ernie", "modernbert", "xlm"),
             "tokens", "mean", "hf:sentence-transformers/all-MiniLM-L6-v2"),
    HFFamily("vit", ModalityKind.IMAGE, ("vit", "deit", "dinov2", "dinov2_with_registers"), "pixels", "cls",
             "hf:facebook/dinov2-small"),
    HFFamily("convnet", ModalityKind.IMAGE, ("convnext", "convnextv2", "resnet", "regnet"), "pixels", "pooler",
             "hf:facebook/convnext-tiny-224", lora_targets=("pwconv1", "pwconv2", "convolution")),
    HFFamily("swin", ModalityKind.IMAGE, ("swin", "swinv2"), "pixels", "pooler",
             "hf:microsoft/swin-tiny-patch4-window7-224"),
    HFFamily("clip-vision", ModalityKind.IMAGE, ("clip_vision_model", "clip", "siglip_vision_model", "siglip",
                                                "siglip2_vision_model", "siglip2"),
             "pixels", "pooler", "hf:openai/clip-vit-base-patch32",
             towers=(("clip", "vision_model"), ("siglip", "vision_model"), ("siglip2", "vision_model"))),
    HFFamily("wav2vec2", ModalityKind.AUDIO, ("wav2vec2", "hubert", "data2vec-audio", "unispeech",
                                             "unispeech-sat", "wav2vec2-conformer"),
             "waveform", "mean", "hf:facebook/wav2vec2-base"),
    # WavLM computes attention from its projections' weights (never calling them): LoRA adapts its feed-forward
    HFFamily("wavlm", ModalityKind.AUDIO, ("wavlm",), "waveform", "mean", "hf:microsoft/wavlm-base-plus",
             lora_targets=("intermediate_dense", "output_dense")),
    HFFamily("ast", ModalityKind.AUDIO, ("audio-spectrogram-transformer",), "spectrogram", "pooler",
             "hf:MIT/ast-finetuned-audioset-10-10-0.4593"),
    HFFamily("whisper", ModalityKind.AUDIO, ("whisper",), "spectrogram", "mean", "hf:openai/whisper-tiny",
             towers=(("whisper", "encoder"),)),
    HFFamily("clap-audio", ModalityKind.AUDIO, ("clap", "clap_audio_model"), "spectrogram", "pooler",
             "hf:laion/clap-htsat-unfused", towers=(("clap", "audio_model"),)),
)
_BY_TYPE = {t: f for f in FAMILIES for t in f.model_types}


class UnknownFamilyError(ValueError):
    """A model whose ``model_type`` is in no family polymodal knows."""


def family_of_type(model_type: str) -> HFFamily:
    """The family of a config's ``model_type``; an unknown one is an error listing the known types."""
    if model_type not in _BY_TYPE:
        known = "; ".join(f"{f.kind.value} ({f.name}): {', '.join(f.model_types)}" for f in FAMILIES)
        raise UnknownFamilyError(f"model_type {model_type!r} is not a model family polymodal can use as an "
                                 f"encoder; known model types: {known}")
    return _BY_TYPE[model_type]


def family_rows() -> list[dict[str, str]]:
    """One row per family, for ``polymodal encoders``."""
    return [{"family": f.name, "kind": f.kind.value, "model types": ", ".join(f.model_types),
             "pooling": f.pooling, "example": f"{f.kind.value}={f.example}"} for f in FAMILIES]
