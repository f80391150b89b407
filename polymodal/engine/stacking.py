"""After training: stacked generalisation for late fusions that stack (cross-fitted on frozen features)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from polymodal.data.dataset import EncodedData
from polymodal.data.targets import labelled_rows
from polymodal.models import MultiTowerModel, SupervisedModel


@torch.no_grad()
def _features(model: SupervisedModel, data: EncodedData, batch_size: int = 256) -> dict[str, dict[str, Tensor]]:
    """Every tower's modality features of ``data`` (key ``""`` for a single model), in eval mode."""
    model.eval()
    parts: dict[str, dict[str, list[Tensor]]] = {}
    for start in range(0, len(data), batch_size):
        batch = data.subset(np.arange(start, min(start + batch_size, len(data))))
        towers = model._features(batch.inputs) if isinstance(model, MultiTowerModel) else {"": model.encode(
            batch.inputs)}
        for tower, features in towers.items():
            for m, value in features.items():
                parts.setdefault(tower, {}).setdefault(m, []).append(value.detach().cpu())
    return {t: {m: torch.cat(v) for m, v in f.items()} for t, f in parts.items()}


def refit_stacking(model: SupervisedModel, data: EncodedData, seed: int = 0, n_folds: int = 5) -> list[str]:
    """Cross-fit every stacking late fusion of ``model`` on ``data`` (the training split); return the
    targets refitted. A no-op for models without one."""
    towers: dict[str, Any] = dict(model.towers.items()) if isinstance(model, MultiTowerModel) else {"": model}
    stacking = [(tower_name, target, fusion) for tower_name, tower in towers.items()
                for target, fusion in tower.fusions.items()
                if hasattr(fusion, "fit_stacking") and target in data.targets]
    if not stacking or len(data) < n_folds:
        return []
    features = _features(model, data)
    masks = {m: v.bool().cpu() for m, v in data.masks.items()}
    for tower_name, target, fusion in stacking:  # on the rows that hold the target (partial labels)
        labelled = labelled_rows(data.targets[target])
        if int(labelled.sum()) < n_folds:
            continue
        fusion.fit_stacking({m: f[labelled] for m, f in features[tower_name].items()},
                            {m: v[labelled] for m, v in masks.items()}, data.targets[target][labelled],
                            n_folds=n_folds, seed=seed)
    return [target for _, target, _ in stacking]
