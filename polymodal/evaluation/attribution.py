"""Integrated gradients (Sundararajan et al. 2017, with Captum) of a model's output on one modality's raw inputs.

The raw inputs are the preprocessed tensors the encoders receive: the normalised pixels of an image, the
log-mel spectrogram of an audio clip, the token ids of a text. The attributed output is the logit of the
class the model predicts for the row (the single logit of a binary target: positive values push towards the
positive class; the value of a regression target), with every other modality of the row as it is.

- image and audio: :class:`captum.attr.IntegratedGradients` from an all-zero baseline (the training mean of
  normalised pixels; silence-level log-mel energy), drawn as a heat map of the absolute attribution summed over
  channels beside the input;
- text: :class:`captum.attr.LayerIntegratedGradients` on the encoder's token embedding layer (an
  ``nn.Embedding`` named ``embedding``: ``text-gru``, ``text-lstm``, ``text-transformer``), from a baseline
  where every word is the unknown-word token (the padding stays, so every sequence keeps its length);
  the attribution of a token is the sum over its embedding's dimensions, drawn as coloured tokens;
- other kinds, and text encoders without such a layer (pretrained and ``hf:`` models, early fusion's bag of
  words), are not supported: :func:`integrated_gradients` says why in ``skipped`` and draws nothing for them.

Heat maps are PNG files written with matplotlib's Agg backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from polymodal.data.dataset import EncodedData
from polymodal.data.kinds import ModalityKind
from polymodal.data.preprocessing.text import PAD_ID, UNKNOWN_ID, TextPreprocessor
from polymodal.data.schema import TaskKind
from polymodal.storage.atomic import atomic_write_with

if TYPE_CHECKING:
    from polymodal.predictor import Predictor

DEFAULT_STEPS = 32
ATTRIBUTED_KINDS = (ModalityKind.IMAGE, ModalityKind.AUDIO, ModalityKind.TEXT)


@dataclass
class Attribution:
    """The integrated gradients of one row's input of one modality (``values`` has the input's shape, or
    ``[T]`` per token for text), with the heat map file when one was written."""

    modality: str
    kind: str
    row: int
    output: str  # what was attributed: "logit of class 3", "logit of the positive class", "value"
    values: np.ndarray = field(repr=False)
    convergence_delta: float
    tokens: list[str] | None = None
    heatmap: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"modality": self.modality, "kind": self.kind, "row": self.row, "output": self.output,
                "convergence_delta": self.convergence_delta, "heatmap": str(self.heatmap) if self.heatmap else None,
                **({"tokens": self.tokens, "token_attributions": [float(v) for v in self.values]}
                   if self.tokens is not None else {})}


@dataclass
class Attributions:
    """Every drawn attribution, and the modalities skipped with the reason (``{modality: reason}``)."""

    items: list[Attribution]
    skipped: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"method": "integrated gradients (Captum)", "items": [a.to_dict() for a in self.items],
                "skipped": dict(self.skipped)}


def _require_captum() -> Any:
    try:
        import captum.attr
    except ImportError as exc:  # pragma: no cover - captum is in the explain and dev extras
        raise ImportError("integrated gradients need Captum: pip install 'polymodal[explain]' (or captum)") from exc
    return captum.attr


def unsupported_reason(predictor: Predictor, modality: str) -> str | None:
    """Why integrated gradients are not drawn for ``modality`` (None when they are)."""
    spec = predictor.pipeline.schema.modality(modality)
    if spec.kind not in ATTRIBUTED_KINDS:
        return (f"{spec.kind.value} inputs are not attributed by integrated gradients"
                + (" (see the permutation importance of its columns)" if spec.kind is ModalityKind.TABULAR else ""))
    encoder = _encoder(predictor, modality)
    if spec.kind is ModalityKind.TEXT:
        if encoder is None or not isinstance(getattr(encoder, "embedding", None), nn.Embedding):
            name = type(encoder).__name__ if encoder is not None else "no encoder"
            return f"its encoder ({name}) has no token embedding layer to attribute to"
        return None
    inputs = predictor.pipeline.input_info().get(modality, {})
    if not ({"channels", "n_mels"} & set(inputs)):
        return "its preprocessed inputs are not pixels or a spectrogram (a pretrained encoder's own input)"
    return None


def _encoder(predictor: Predictor, modality: str) -> nn.Module | None:
    encoders = getattr(predictor.model, "encoders", None)
    return encoders[modality] if isinstance(encoders, nn.ModuleDict) and modality in encoders else None


class _ModalityForward(nn.Module):
    """The model's attributed output as a function of one modality's input (the rest fixed, per row)."""

    def __init__(self, model: nn.Module, modality: str, names: Sequence[str], target: str) -> None:
        super().__init__()
        self.model, self.modality, self.names, self.target = model, modality, list(names), target

    def forward(self, x: Tensor, class_index: Tensor, *rest: Tensor) -> Tensor:
        n = len(self.names)
        inputs = dict(zip(self.names, rest[:n], strict=True))
        masks = dict(zip(self.names, rest[n:], strict=True))
        inputs[self.modality] = x
        logits = self.model(inputs, masks)[self.target]
        return logits.gather(1, class_index.view(-1, 1)).squeeze(1)


def _output_and_class(predictor: Predictor, target: str, logits: Tensor) -> tuple[Tensor, list[str]]:
    task = predictor.pipeline.targets[target].task
    if task in (TaskKind.BINARY, TaskKind.REGRESSION):
        what = "value" if task is TaskKind.REGRESSION else "logit of the positive class"
        return torch.zeros(len(logits), dtype=torch.long), [what] * len(logits)
    index = logits.argmax(dim=1)
    classes = predictor.pipeline.targets[target].classes_
    return index, [f"logit of class {classes[int(i)]!r} (the predicted class)" for i in index]


def integrated_gradients(
    predictor: Predictor,
    data: EncodedData,
    out: str | Path | None = None,
    *,
    modalities: Sequence[str] | None = None,
    target: str | None = None,
    samples: int = 3,
    steps: int = DEFAULT_STEPS,
) -> Attributions:
    """Integrated gradients of ``samples`` rows per modality (the first rows where it is present), on the
    encoded rows ``data``; heat maps ``out/<modality>-row<R>.png`` when ``out`` is given."""
    attr = _require_captum()
    target = target or predictor.targets[0]
    names = list(data.inputs)
    wanted = list(modalities) if modalities is not None else [s.name for s in predictor.pipeline.schema.modalities]
    model = predictor.model.eval()
    items: list[Attribution] = []
    skipped: dict[str, str] = {}
    for modality in wanted:
        reason = unsupported_reason(predictor, modality)
        if reason is not None:
            skipped[modality] = reason
            continue
        present = np.flatnonzero(data.masks[modality].numpy())[:samples]
        if len(present) == 0:
            skipped[modality] = "no row of the table holds it"
            continue
        part = data.subset(present)
        with torch.no_grad():
            index, outputs = _output_and_class(predictor, target, model(part.inputs, part.masks)[target])
        rest = tuple(part.inputs[n] for n in names) + tuple(part.masks[n] for n in names)
        forward = _ModalityForward(model, modality, names, target)
        kind = predictor.pipeline.schema.modality(modality).kind
        x = part.inputs[modality]
        with torch.enable_grad():
            if kind is ModalityKind.TEXT:
                embedding: Any = _encoder(predictor, modality)  # checked by unsupported_reason: it has one
                method = attr.LayerIntegratedGradients(forward, embedding.embedding)
                baseline = torch.where(x == PAD_ID, x, torch.full_like(x, UNKNOWN_ID))
                values, delta = method.attribute(x, baselines=baseline, additional_forward_args=(index, *rest),
                                                 n_steps=steps, return_convergence_delta=True)
                values = values.sum(dim=-1)
            else:
                method = attr.IntegratedGradients(forward)
                values, delta = method.attribute(x.float(), baselines=torch.zeros_like(x.float()),
                                                 additional_forward_args=(index, *rest), n_steps=steps,
                                                 return_convergence_delta=True)
        tokens = _tokens(predictor, modality, x) if kind is ModalityKind.TEXT else None
        for i, row in enumerate(part.rows):
            item = Attribution(modality=modality, kind=kind.value, row=int(row), output=outputs[i],
                               values=values[i].detach().numpy(), convergence_delta=float(delta[i]),
                               tokens=None if tokens is None else tokens[i])
            if kind is ModalityKind.TEXT and item.tokens is not None:
                item.values = item.values[: len(item.tokens)]
            if out is not None:
                item.heatmap = draw_heatmap(item, x[i].numpy(), Path(out) / f"{_slug(modality)}-row{int(row)}.png")
            items.append(item)
    return Attributions(items, skipped)


def _tokens(predictor: Predictor, modality: str, ids: Tensor) -> list[list[str]]:
    pre = predictor.pipeline.preprocessors[modality]
    vocabulary = pre.vocabulary_ if isinstance(pre, TextPreprocessor) else []

    def word(i: int) -> str:
        return "<unknown>" if i == UNKNOWN_ID else vocabulary[i - 2] if 2 <= i < len(vocabulary) + 2 else f"<{i}>"

    return [[word(int(i)) for i in row if int(i) != PAD_ID] for row in ids]


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text).strip("-") or "modality"


def draw_heatmap(item: Attribution, x: np.ndarray, path: Path) -> Path:
    """Draw ``item`` (with its input ``x``) to the PNG file ``path`` (written atomically)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"text.parse_math": False}):
        if item.tokens is not None:
            fig = _text_figure(plt, item)
        else:
            fig = _grid_figure(plt, item, x)
        fig.suptitle(f"{item.modality}, row {item.row}: integrated gradients of the {item.output}", fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_with(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return path


def _grid_figure(plt: Any, item: Attribution, x: np.ndarray) -> Any:
    """Input and absolute attribution side by side (images: channels-last, min-max scaled for display)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(6.4, 3.2), dpi=100)
    heat = np.abs(item.values).sum(axis=0) if item.values.ndim == 3 else np.abs(item.values)
    if item.kind == "image":
        shown = np.moveaxis(x, 0, -1) if x.ndim == 3 else x
        shown = (shown - shown.min()) / max(float(np.ptp(shown)), 1e-12)
        left.imshow(shown[..., 0] if shown.shape[-1] == 1 else shown, cmap="gray" if shown.shape[-1] == 1 else None)
        left.set_title("input", fontsize=8)
        right.imshow(heat, cmap="inferno")
    else:  # a spectrogram [1, n_mels, n_frames]: time across, frequency up
        left.imshow(x.reshape(heat.shape), origin="lower", aspect="auto", cmap="magma")
        left.set_title("log-mel input", fontsize=8)
        right.imshow(heat, origin="lower", aspect="auto", cmap="inferno")
    right.set_title("|attribution|", fontsize=8)
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def _text_figure(plt: Any, item: Attribution) -> Any:
    """Each token coloured by its attribution (red: towards the output, blue: against)."""
    tokens = item.tokens or []
    fig, ax = plt.subplots(figsize=(max(3.0, 0.8 * len(tokens) + 1), 1.8), dpi=100)
    values = item.values[None, :] if len(tokens) else np.zeros((1, 1))
    bound = max(float(np.abs(values).max()), 1e-12)
    ax.imshow(values, cmap="coolwarm", vmin=-bound, vmax=bound, aspect="auto")
    ax.set_xticks(range(len(tokens)), tokens, rotation=45, ha="right", fontsize=8)
    ax.set_yticks([])
    return fig
