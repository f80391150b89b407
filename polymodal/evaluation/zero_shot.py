"""Zero-shot classification by text prompts, as OpenCLIP evaluates it (``zero_shot_classifier``).

Each class's prompts (``"a photo of a {}"`` with the class name, one template or several) are
embedded by the text tower and L2-normalised; a class's weight is the normalised mean of its
prompts' embeddings. Each row's image (or audio) embedding, L2-normalised, is scored against every
class by cosine similarity; the prediction is the class of highest similarity, and the class
probabilities are the softmax of the similarities times the model's logit scale. With a target
column the predictions are scored as ``evaluate`` scores a classifier (accuracy, macro-F1, AUROC).

Example
-------
>>> result = zero_shot("hf:openai/clip-vit-base-patch32", "photos.csv", classes=["cat", "dog"],
...                    templates=["a photo of a {}"], target="label")   # doctest: +SKIP
>>> result.metrics["label"]["accuracy"]                                # doctest: +SKIP
0.93
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from polymodal.data.cells import is_missing
from polymodal.data.kinds import ModalityKind
from polymodal.data.schema import ROW_COLUMN, TaskKind
from polymodal.engine.joint_model import from_joint, is_joint_name, with_model_columns
from polymodal.errors import DataError
from polymodal.evaluation.metrics import build_metrics
from polymodal.models.contrastive import ContrastiveModel
from polymodal.pretrained import PretrainedModel, TableLike

PLACEHOLDER = "{}"


@dataclass
class ZeroShotResult:
    """``predictions`` (one row per table row: ``row``, ``predicted``, ``similarity``, ``proba_<class>``;
    empty where the row has no image/audio), ``metrics`` (``{target: {...}}`` when a target was given)."""

    predictions: pd.DataFrame
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    modality: str = ""
    text_modality: str = ""


def class_prompts(classes: Sequence[str], templates: Sequence[str]) -> list[str]:
    """Every template filled with every class, class by class: ``[t.format(c) for c in classes for t in templates]``."""
    names = [str(c).strip() for c in classes]
    if not names or not all(names):
        raise ValueError("give the class names, e.g. --classes cat,dog (none may be empty)")
    duplicates = sorted({c for c in names if names.count(c) > 1})
    if duplicates:
        raise ValueError(f"class name(s) given twice: {', '.join(duplicates)}")
    if not templates:
        raise ValueError('give at least one prompt template, e.g. --labels "a photo of a {}"')
    for template in templates:
        if template.count(PLACEHOLDER) != 1 or "{" in template.replace(PLACEHOLDER, ""):
            raise ValueError(f"prompt template {template!r} must hold {PLACEHOLDER} exactly once (where the class "
                             "name goes) and no other braces")
    return [template.replace(PLACEHOLDER, name) for name in names for template in templates]


def text_embeddings(model: PretrainedModel, modality: str, texts: Sequence[str]) -> np.ndarray:
    """L2-normalised embeddings ``[len(texts), D]`` of ``texts`` by the text modality's encoder and head."""
    pre = model.pipeline.preprocessors[modality]
    column = model.pipeline.schema.modality(modality).columns[0]
    x = pre.transform(pd.DataFrame({column: list(texts)}))
    net = _contrastive(model)
    net.eval()
    with torch.inference_mode():
        z = net.heads[modality](net.encoders[modality](x))
    return F.normalize(z.float(), dim=1).numpy()


def class_weights(model: PretrainedModel, modality: str, classes: Sequence[str],
                  templates: Sequence[str]) -> np.ndarray:
    """One unit vector per class ``[C, D]``: the normalised mean of its normalised prompt embeddings."""
    z = text_embeddings(model, modality, class_prompts(classes, templates))
    mean = z.reshape(len(classes), len(templates), -1).mean(axis=1)
    return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)


def zero_shot(model: str | Path | PretrainedModel, table: TableLike, classes: Sequence[str],
              templates: Sequence[str] = ("{}",), target: str | None = None, modality: str | None = None,
              text_modality: str | None = None, columns: str | None = None,
              on_error: str | None = None) -> ZeroShotResult:
    """Classify each row of ``table`` among ``classes`` by prompts (see the module docstring).

    ``model`` is a bundle of ``polymodal pretrain`` (a contrastive representation), a
    :class:`PretrainedModel`, or a joint model ``hf:NAME`` used as it is (``columns`` as in
    :func:`~polymodal.engine.joint_model.from_joint`). ``modality`` is the modality classified
    (default: the model's only non-text one), ``text_modality`` the one that embeds the prompts
    (default: its only text one). ``target`` names a column of class names to score against.
    """
    pre = _model(model, table, columns, modality)
    query, text = _modalities(pre, modality, text_modality)
    tbl = with_model_columns(pre, table, keep=query)
    if target is not None and target not in tbl.frame.columns:
        raise DataError(f"target column {target!r} is not in the table {tbl.source}; it has "
                        f"{', '.join(map(str, tbl.frame.columns))}")
    data = pre.encode_table(tbl, on_error=on_error)
    present = data.masks[query].numpy().astype(bool)
    z = pre.embed(data, modalities=[query])
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    weights = class_weights(pre, text, classes, templates)
    similarity = z @ weights.T
    scale = float(1.0 / _contrastive(pre).loss.temperature().detach())
    proba = torch.softmax(torch.from_numpy(similarity * scale), dim=1).numpy()
    names = [str(c).strip() for c in classes]
    predictions = _predictions(data.rows, present, similarity, proba, names)
    result = ZeroShotResult(predictions, modality=query, text_modality=text)
    if target is not None:
        labels = tbl.frame[target].to_numpy()[np.asarray(data.rows)]
        result.metrics[target] = score(labels[present], proba[present], names, target)
    return result


def score(labels: np.ndarray, proba: np.ndarray, classes: Sequence[str], target: str) -> dict[str, float]:
    """Accuracy, macro-F1 and AUROC of class probabilities against labels (class names), as ``evaluate``
    scores a multiclass target; rows without a label are left out, a label that is not a class is an error."""
    keep = np.array([not is_missing(v) for v in labels], dtype=bool)
    text = [str(v).strip() for v in labels[keep]]
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(text) - set(index))
    if unknown:
        shown = ", ".join(map(repr, unknown[:10])) + (" ..." if len(unknown) > 10 else "")
        raise DataError(f"target column {target!r} holds label(s) that are not among the classes: {shown}; the "
                        f"classes are {', '.join(classes)}")
    if not text:
        raise DataError(f"target column {target!r} has no label in the rows that have the classified modality")
    metrics = build_metrics(TaskKind.MULTICLASS, len(classes))
    metrics.update(torch.from_numpy(proba[keep]).float(), torch.tensor([index[t] for t in text]))
    out = {name: float(value) for name, value in metrics.compute().items()}
    out["n"] = len(text)  # a count: printed as one
    return out


def _model(model: str | Path | PretrainedModel, table: TableLike, columns: str | None,
           modality: str | None) -> PretrainedModel:
    if isinstance(model, PretrainedModel):
        return model
    if is_joint_name(str(model)):
        return from_joint(str(model), table, columns=columns or (f"{modality}+text" if modality else None))
    return PretrainedModel.load(model)


def _contrastive(model: PretrainedModel) -> ContrastiveModel:
    if not isinstance(model.model, ContrastiveModel):
        raise ValueError(f"zero-shot classification needs a contrastive representation (image or audio and text in "
                         f"one space: a joint model hf:NAME, or `polymodal pretrain --objective contrastive`); this "
                         f"model's objective is {model.config.model.objective!r}")
    return model.model


def _modalities(model: PretrainedModel, modality: str | None, text: str | None) -> tuple[str, str]:
    _contrastive(model)
    kinds = {m.name: m.kind for m in model.pipeline.schema.modalities}
    for name, role in ((modality, "modality"), (text, "text modality")):
        if name is not None and name not in kinds:
            raise ValueError(f"unknown {role} {name!r}; the model's modalities: {', '.join(sorted(kinds))}")
    if text is not None and kinds[text] is not ModalityKind.TEXT:
        raise ValueError(f"the prompts are text: modality {text!r} is {kinds[text].value}")
    texts = [n for n, k in kinds.items() if k is ModalityKind.TEXT and n != modality]
    others = [n for n, k in kinds.items() if k is not ModalityKind.TEXT]
    text = text or _only(texts, "text", "--text-modality")
    modality = modality or _only(others, "image or audio", "--from")
    return modality, text


def _only(names: list[str], what: str, flag: str) -> str:
    if len(names) == 1:
        return names[0]
    if not names:
        raise ValueError(f"the model has no {what} modality to use for zero-shot classification")
    raise ValueError(f"the model has several {what} modalities ({', '.join(names)}); choose one with {flag}")


def _predictions(rows: np.ndarray, present: np.ndarray, similarity: np.ndarray, proba: np.ndarray,
                 classes: list[str]) -> pd.DataFrame:
    best = similarity.argmax(axis=1)
    out = pd.DataFrame({ROW_COLUMN: np.asarray(rows)})
    out["predicted"] = [classes[b] if p else None for b, p in zip(best, present)]
    out["similarity"] = np.where(present, similarity.max(axis=1), np.nan)
    for j, name in enumerate(classes):
        out[f"proba_{name}"] = np.where(present, proba[:, j], np.nan)
    return out


__all__ = ["ZeroShotResult", "class_prompts", "class_weights", "score", "text_embeddings", "zero_shot"]
