"""Joint (two-tower) models: CLIP and SigLIP (image + text), CLAP (audio + text), one aligned space.

``encoders={"image+text": "hf:NAME_OR_PATH"}`` (``--encoder image+text=hf:...``) encodes the table's
image column and its text column with the matching towers of one ``transformers`` model, so that an
image and a caption land in the same space (``CLIPModel.get_image_features`` /
``get_text_features``, ``SiglipModel``, ``ClapModel.get_audio_features``). A side of the key is a
kind (``image``, ``audio``, ``text``: the table's only column of that kind) or a column name
(``photo+caption=hf:...``, needed when the table has several). :func:`expand_joint` turns the key
into one encoder per column, ``joint-image`` / ``joint-text`` / ``joint-audio`` with
``weights=NAME_OR_PATH``; these are pretrained backbones like the packaged ones (frozen embeddings
through the cache, keyed by the digest of the model's weight and processor files; ``train=last:N``
or ``full`` fine-tunes the tower).

Each tower prepares its cells with the model's own processor: the image processor (resize, crop,
normalisation), the tokenizer (padded to ``max_length``, by default the model's own limit; longer
texts are truncated), the feature extractor at its sample rate (audio is resampled first). The
output is the tower's projection into the joint space (SigLIP: the pooled output of its heads).

A name that is not an existing folder is a Hugging Face hub name: it is downloaded (or found in the
local hub cache) with ``huggingface_hub``; with no network and no cached copy, loading fails with a
message saying so.

Example
-------
>>> expand_joint({"image+text": "hf:openai/clip-vit-base-patch32"}, {},
...              {"photo": ModalityKind.IMAGE, "caption": ModalityKind.TEXT})[0]
{'photo': 'joint-image', 'caption': 'joint-text'}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from polymodal.cache.keys import weights_digest
from polymodal.data.kinds import ModalityKind
from polymodal.encoders.pretrained.backbone import Backbone
from polymodal.encoders.pretrained.hf_loading import HFLoadError, model_files, resolve_source
from polymodal.encoders.pretrained.requirements import require

HF_PREFIX = "hf:"
# model_type of the config -> (the kinds of its two towers, attribute of each tower, of its projection)
FAMILIES: dict[str, dict[ModalityKind, tuple[str, str | None]]] = {
    "clip": {ModalityKind.IMAGE: ("vision_model", "visual_projection"),
             ModalityKind.TEXT: ("text_model", "text_projection")},
    "siglip": {ModalityKind.IMAGE: ("vision_model", None), ModalityKind.TEXT: ("text_model", None)},
    "clap": {ModalityKind.AUDIO: ("audio_model", "audio_projection"),
             ModalityKind.TEXT: ("text_model", "text_projection")},
}
SCALES = {"clip": "logit_scale", "siglip": "logit_scale", "clap": "logit_scale_t"}
JOINT_NAMES = {ModalityKind.IMAGE: "joint-image", ModalityKind.TEXT: "joint-text", ModalityKind.AUDIO: "joint-audio"}
_HUB_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model"]


class JointModelError(ValueError):
    """A joint model that cannot be used as asked (missing, not a two-tower model, wrong columns)."""


def strip_hf(name: str) -> str:
    """``hf:NAME`` -> ``NAME`` (a name without the prefix is returned as it is)."""
    return name[len(HF_PREFIX):] if name.startswith(HF_PREFIX) else name


def model_folder(name: str | Path) -> Path:
    """The local folder of a joint model: ``name`` itself when it is a folder, else the hub snapshot of
    ``name`` (downloaded once, or found in the hub cache). Errors say which case failed."""
    try:
        source = resolve_source(str(name))  # the same rules as every hf: name: a folder, or a hub name
    except HFLoadError as exc:
        raise JointModelError(str(exc)) from exc
    if source.folder is not None:
        return source.folder
    text = source.ref
    hub = require(f"hf:{text}", "huggingface_hub", "huggingface_hub")
    try:
        return Path(hub.snapshot_download(text, allow_patterns=_HUB_PATTERNS))
    except Exception as exc:  # no network, no such repository, no permission: one clear message
        detail = (str(exc).splitlines() or [""])[0]
        raise JointModelError(f"cannot load {text!r}: it is not a local folder, and the Hugging Face hub gave no "
                              f"model of that name ({type(exc).__name__}: {detail}); "
                              "check the name and the network, or give the folder of a model saved with "
                              "save_pretrained") from exc


def model_family(folder: Path) -> str:
    """The ``model_type`` of the model in ``folder``; a model that is not a joint one is an error."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise JointModelError(f"cannot read {folder / 'config.json'}: {exc}") from exc
    family = str(config.get("model_type", "")) if isinstance(config, dict) else ""
    if family not in FAMILIES:
        raise JointModelError(
            f"{folder} holds a {family or 'unknown'!r} model, not a joint (two-tower) model; joint models are "
            f"{', '.join(sorted(FAMILIES))} (image+text=hf:... for CLIP/SigLIP, audio+text=hf:... for CLAP); for a "
            "single-modality backbone use MODALITY=hf:NAME"
        )
    return family


def joint_kinds(name: str | Path) -> tuple[ModalityKind, ModalityKind]:
    """The kinds of a joint model's two towers, the non-text one first: ``(image, text)`` or ``(audio, text)``."""
    kinds = list(FAMILIES[model_family(model_folder(name))])
    return (kinds[0], kinds[1]) if kinds[1] is ModalityKind.TEXT else (kinds[1], kinds[0])


def expand_joint(
    encoders: Mapping[str, str], encoder_args: Mapping[str, Mapping[str, Any]], kinds: Mapping[str, ModalityKind],
) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """``encoders`` / ``encoder_args`` with every joint key ``A+B`` replaced by one encoder per column.

    ``A`` and ``B`` are column (modality) names or kinds; a kind names the table's only modality of
    that kind. The pair must be an image or an audio column with a text column. The joint key's
    arguments (``encoder_args["image+text"]``) apply to both towers, under each column's own.
    """
    out_encoders = {k: v for k, v in encoders.items() if "+" not in k}
    out_args = {k: dict(v) for k, v in encoder_args.items() if "+" not in k}
    for key, value in encoders.items():
        if "+" not in key:
            continue
        if not str(value).startswith(HF_PREFIX):
            raise JointModelError(f"encoder {key}={value}: a joint key (A+B) takes a joint model, hf:NAME_OR_PATH "
                                  "(a CLIP, SigLIP or CLAP model)")
        columns = list(joint_columns(key, kinds))
        pair = {kinds[c] for c in columns}
        if ModalityKind.TEXT not in pair or not pair & {ModalityKind.IMAGE, ModalityKind.AUDIO}:
            described = ", ".join(f"{c!r} is {kinds[c].value}" for c in columns)
            raise JointModelError(f"encoder {key}: a joint model pairs an image or audio column with a text column; "
                                  f"{described}")
        shared = dict(encoder_args.get(key, {}))
        for column in columns:
            if column in out_encoders:
                raise JointModelError(f"column {column!r} has two encoders: {column}={out_encoders[column]} and "
                                      f"{key}={value}; keep one")
            out_encoders[column] = JOINT_NAMES[kinds[column]]
            out_args[column] = {**shared, **out_args.get(column, {}), "weights": strip_hf(str(value))}
    return out_encoders, out_args


def joint_init(model: Any) -> Any:
    """A model config whose ``init_from`` is a joint model (``hf:CLIP_OR_CLAP``) rather than a bundle: its two
    towers as the encoders of their kinds (``image+text=hf:...``), fine-tuned in full (``train=full``), or kept
    frozen with ``freeze``; the encoder arguments given for that key win. Any other config is returned as is."""
    name = model.init_from
    if not isinstance(name, str) or not name.startswith(HF_PREFIX):
        return model
    first, second = joint_kinds(name)
    key = f"{first.value}+{second.value}"
    if key in model.encoders and model.encoders[key] != name:
        raise JointModelError(f"init_from={name!r} and encoder {key}={model.encoders[key]!r} name two joint models; "
                              "give one")
    args = {"train": "frozen" if model.freeze else "full", **model.encoder_args.get(key, {})}
    return model.model_copy(update={"encoders": {**model.encoders, key: name},
                                    "encoder_args": {**model.encoder_args, key: args},
                                    "init_from": None, "freeze": False})


def with_joint_encoders(model: Any, kinds: Mapping[str, ModalityKind]) -> Any:
    """A model config (``ModelConfig`` / ``PretrainModelConfig``) with its joint keys expanded (see
    :func:`expand_joint`); the config itself when it has none."""
    if not any("+" in key for key in model.encoders):
        return model
    encoders, encoder_args = expand_joint(model.encoders, model.encoder_args, kinds)
    return model.model_copy(update={"encoders": encoders, "encoder_args": encoder_args})


def joint_columns(key: str, kinds: Mapping[str, ModalityKind], missing_text: str | None = None) -> tuple[str, str]:
    """The two columns a joint key ``A+B`` names (each a column or the kind of the only such column).

    With ``missing_text``, a ``text`` side the table has no column for is named ``missing_text``
    (zero-shot classification needs only the image or audio column)."""
    sides = [side.strip() for side in key.split("+")]
    if len(sides) != 2 or not all(sides):
        raise JointModelError(f"encoder key {key!r}: a joint model encodes two columns, e.g. image+text or "
                              "photo+caption")
    columns = []
    for side in sides:
        absent = side not in kinds and not any(k.value == side for k in kinds.values())
        if missing_text is not None and side == ModalityKind.TEXT.value and absent:
            if missing_text in kinds:
                raise JointModelError(f"the table has no text column, and its column {missing_text!r} is "
                                      f"{kinds[missing_text].value}; name the columns, e.g. --columns A+B")
            columns.append(missing_text)
            continue
        columns.append(_column(side, key, kinds))
    if columns[0] == columns[1]:
        raise JointModelError(f"encoder key {key!r} names column {columns[0]!r} twice")
    return columns[0], columns[1]


def _column(side: str, key: str, kinds: Mapping[str, ModalityKind]) -> str:
    if side in kinds:
        return side
    of_kind = [name for name, kind in kinds.items() if kind.value == side]
    if len(of_kind) == 1:
        return of_kind[0]
    listed = ", ".join(f"{n} ({k.value})" for n, k in kinds.items()) or "none"
    if not of_kind:
        raise JointModelError(f"encoder key {key!r}: {side!r} is neither a column nor the kind of one; the "
                              f"table's modalities: {listed}")
    raise JointModelError(f"encoder key {key!r}: the table has {len(of_kind)} {side} columns ({', '.join(of_kind)}); "
                          f"name the one to use, e.g. {of_kind[0]}+... instead of {key}")


def mark_aligned(encoder: nn.Module, tower: JointTower) -> None:
    """Mark ``encoder`` (built on ``tower``) as giving features in its joint model's space: the contrastive
    model then keeps them as they are (no projection head) and starts from the model's logit scale."""
    setattr(encoder, "aligned_space", tower.weights_id)  # noqa: B010 - plain attributes, not parameters
    setattr(encoder, "logit_scale", tower.logit_scale)  # noqa: B010


class JointTower(Backbone):
    """One tower of a joint model (base of ``joint-image``, ``joint-text``, ``joint-audio``).

    ``weights`` is the model (a folder, or a hub name). ``logit_scale`` is the model's own
    (``exp`` of its learned log scale): the contrastive objective starts from it.
    """

    defaults: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, weights: str | Path | None = None, **options: Any) -> None:
        super().__init__(weights, **options)
        if weights is None:
            raise JointModelError(f"encoder {self.name!r} needs weights=MODEL (a CLIP, SigLIP or CLAP folder or hub "
                                  f"name); choose it as --encoder {self.kind.value}+text=hf:MODEL")
        transformers = require(self.name, "transformers", "transformers")
        folder = model_folder(weights)
        self.family = model_family(folder)
        towers = FAMILIES[self.family]
        if self.kind not in towers:
            raise JointModelError(f"{folder} is a {self.family} model: its towers encode "
                                  f"{' and '.join(k.value for k in towers)}, not {self.kind.value}")
        try:
            model = transformers.AutoModel.from_pretrained(folder, local_files_only=True)
            self.processor = transformers.AutoProcessor.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise JointModelError(f"cannot load the {self.family} model in {folder} with its processor "
                                  f"({type(exc).__name__}: {exc})") from exc
        tower, projection = towers[self.kind]
        self.tower = getattr(model, tower)
        self.projection = getattr(model, projection) if projection else nn.Identity()
        self.logit_scale = float(math.exp(float(getattr(model, SCALES[self.family]).detach())))
        self.weights_id = weights_digest(model_files(folder))
        self.options = {**self.options, "family": self.family}
        self.setup(model)
        self.eval()
        try:
            with torch.inference_mode():
                self.output_dim = int(self(self.prepare([self.example()])).shape[1])
        except (RuntimeError, ValueError, IndexError, TypeError) as exc:
            raise JointModelError(f"the {self.kind.value} processor of {folder} does not fit its model (a sample it "
                                  f"prepared fails in the {self.kind.value} tower: {type(exc).__name__}: {exc}); save "
                                  "the processor the model was trained with beside it") from exc

    # ------------------------------------------------------------------ per kind
    def setup(self, model: nn.Module) -> None:
        """Read what preparation needs from the model (its config) once loaded."""

    def example(self) -> Any:  # pragma: no cover - abstract
        """One cell, to size the output."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared
    def blocks(self) -> list[nn.Module]:
        """Stem (embeddings), the transformer layers, head (final norms, pooling head, projection)."""
        layers = max((m for m in self.tower.modules() if isinstance(m, nn.ModuleList)), key=len, default=None)
        if layers is None:
            return [nn.ModuleList([self.tower, self.projection])]
        in_layers = {id(p) for p in layers.parameters()}
        stem, head = nn.ModuleList(), nn.ModuleList([self.projection])
        for name, child in self.tower.named_children():
            if any(id(p) in in_layers for p in child.parameters()):
                continue
            (stem if "embed" in name or name.startswith("pre") else head).append(child)
        return [stem, *layers, head]

    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.prepare([self.example()]).shape[1:])


class JointImageTower(JointTower):
    """The image tower ``[B, 3, H, W] -> [B, D]`` (CLIP: ``get_image_features``; SigLIP: pooled output)."""

    name = "joint-image"
    kind = ModalityKind.IMAGE

    def example(self) -> Any:
        return np.zeros((8, 8), dtype=np.uint8)

    def prepare(self, cells: Sequence[Any]) -> Tensor:
        from PIL import Image

        if not cells:
            return torch.zeros((0, *self.input_shape()))
        images = [Image.fromarray(np.asarray(c, dtype=np.uint8)).convert("RGB") for c in cells]
        return self.processor.image_processor(images=images, return_tensors="pt")["pixel_values"].float()

    def forward(self, pixels: Tensor) -> Tensor:
        return self.projection(self.tower(pixel_values=pixels).pooler_output)


class JointTextTower(JointTower):
    """The text tower: token ids and attention mask ``[B, 2, max_length] -> [B, D]``.

    ``max_length`` (default: the model's own limit) pads and truncates; longer texts are truncated.
    CLIP and CLAP run on the longest text of the batch (trailing padding changes nothing but the
    cost); SigLIP, which pools its last position, always sees the full padded length, as it was trained.
    """

    name = "joint-text"
    kind = ModalityKind.TEXT
    defaults: ClassVar[Mapping[str, Any]] = {"max_length": None}

    def setup(self, model: nn.Module) -> None:
        tokenizer = self.processor.tokenizer
        limit = getattr(getattr(model.config, "text_config", None), "max_position_embeddings", None) or 512
        if self.family == "clap":
            limit -= 2  # RoBERTa positions start after the padding index
        own = int(tokenizer.model_max_length) if 0 < tokenizer.model_max_length < 100_000 else limit
        length = self.options.get("max_length") or min(own, limit)
        if not isinstance(length, int) or not 1 <= length <= limit:
            raise JointModelError(f"max_length={self.options['max_length']!r}: the {self.family} text tower takes "
                                  f"1 to {limit} tokens")
        self.max_length = int(length)
        self.options = {**self.options, "max_length": self.max_length}

    def example(self) -> Any:
        return "a"

    def prepare(self, cells: Sequence[Any]) -> Tensor:
        if not cells:
            return torch.zeros((0, 2, self.max_length), dtype=torch.long)
        encoded = self.processor.tokenizer(list(cells), padding="max_length", truncation=True,
                                           max_length=self.max_length, return_tensors="pt")
        ids = encoded["input_ids"].long()
        mask = encoded.get("attention_mask")
        mask = torch.ones_like(ids) if mask is None else mask.long()
        return torch.stack([ids, mask], dim=1)

    def forward(self, x: Tensor) -> Tensor:
        ids, mask = x[:, 0].long(), x[:, 1].long()
        if self.family == "siglip":
            return self.projection(self.tower(input_ids=ids).pooler_output)
        used = max(1, int(mask.sum(dim=1).max())) if len(ids) else 1
        out = self.tower(input_ids=ids[:, :used], attention_mask=mask[:, :used]).pooler_output
        return self.projection(out)


class JointAudioTower(JointTower):
    """The audio tower of CLAP: log-mel features of the feature extractor ``[B, C, T, F] -> [B, D]``;
    audio is resampled to the extractor's sample rate first. Clips longer than the extractor's
    ``max_length_s`` are cropped (or fused) by it; its random crops are drawn with a fixed seed, so
    a clip always gets the same embedding (as the embedding cache assumes)."""

    name = "joint-audio"
    kind = ModalityKind.AUDIO

    def setup(self, model: nn.Module) -> None:
        self.sample_rate = int(self.processor.feature_extractor.sampling_rate)

    def example(self) -> Any:
        return np.zeros(self.sample_rate // 10, dtype=np.float32), self.sample_rate

    def prepare(self, cells: Sequence[Any]) -> Tensor:
        from polymodal.data.audio_features import resample

        if not cells:
            return torch.zeros((0, *self.input_shape()))
        waves = []
        for samples, rate in cells:
            wav = np.asarray(samples, dtype=np.float32)
            waves.append(resample(wav.mean(axis=1) if wav.ndim == 2 else wav, int(rate), self.sample_rate))
        # CLAP crops clips longer than its window with numpy's global generator: seeded, the same crop every run
        state = np.random.get_state()  # noqa: NPY002
        np.random.seed(0)  # noqa: NPY002
        try:
            features = self.processor.feature_extractor(waves, sampling_rate=self.sample_rate, return_tensors="pt")
        finally:
            np.random.set_state(state)  # noqa: NPY002
        return features["input_features"].float()

    def forward(self, features: Tensor) -> Tensor:
        return self.projection(self.tower(input_features=features).pooler_output)


JOINT_TOWERS: tuple[type[JointTower], ...] = (JointImageTower, JointTextTower, JointAudioTower)
DESCRIPTIONS = {
    "joint-image": "image tower of a joint model (CLIP, SigLIP); chosen with --encoder image+text=hf:NAME",
    "joint-text": "text tower of a joint model (CLIP, SigLIP, CLAP); chosen with --encoder image+text=hf:NAME",
    "joint-audio": "audio tower of a joint model (CLAP); chosen with --encoder audio+text=hf:NAME",
}
