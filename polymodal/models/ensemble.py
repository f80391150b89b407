"""An ensemble of supervised models (several fusions or seeds), combined by stacking.

Each member is an ordinary :class:`~polymodal.models.supervised.FusionModel` (or multi-tower model) over
the same inputs, trained on its own (see :mod:`polymodal.engine.ensemble`). Their predictions are combined,
per target, by a linear meta-model over the members' probabilities (regression: their predictions), as
the stacking late fusion combines its modalities' predictions
(:class:`~polymodal.fusion.late_stacking.StackingLateFusion`): stacked generalisation (Wolpert 1992), the
meta-model fitted on predictions for rows the members were not trained on (the validation split) with
:meth:`EnsembleModel.fit_combiner`. Until it is fitted, the ensemble averages the members' probabilities.

Example
-------
>>> import torch
>>> from torch import nn
>>> class Constant(nn.Module):
...     def __init__(self, logits): super().__init__(); self.logits = torch.tensor(logits)
...     def forward(self, inputs, masks): return {"y": self.logits.expand(2, -1)}
>>> ensemble = EnsembleModel({"0": Constant([0.0, 2.0]), "1": Constant([2.0, 0.0])}, {"y": ("multiclass", 2)})
>>> ensemble({}, {})["y"].softmax(-1)[0].tolist()
[0.5, 0.5]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from polymodal.data.targets import labelled_rows
from polymodal.fusion.base import TASK_ACTIVATION
from polymodal.fusion.late_mean import to_logits, to_probabilities
from polymodal.fusion.linear_fit import fit_linear


class EnsembleModel(nn.Module):
    """Members ``{name: model}`` (each returning ``{target: logits}``) and, per target of ``targets``
    (``{target: (task, outputs)}``), a linear meta-model over the members' concatenated probabilities."""

    fitted: Tensor

    def __init__(self, members: Mapping[str, nn.Module], targets: Mapping[str, tuple[str, int]]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least two members, got {len(members)}")
        self.members = nn.ModuleDict(dict(members))
        self.tasks = {name: task for name, (task, _) in targets.items()}
        self.combiners = nn.ModuleDict({name: nn.Linear(len(members) * n_out, n_out)
                                        for name, (_task, n_out) in targets.items()})
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))

    def _member_predictions(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """``{target: [B, members, outputs]}``: each member's probabilities (regression: predictions)."""
        outs = [member(inputs, masks) for member in self.members.values()]
        return {name: torch.stack([to_probabilities(o[name], TASK_ACTIVATION[task]) for o in outs], dim=1)
                for name, task in self.tasks.items()}

    def combine(self, predictions: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """The ensemble's logits from the members' stacked predictions (see :meth:`_member_predictions`)."""
        if not bool(self.fitted):
            return {name: to_logits(p.mean(dim=1), TASK_ACTIVATION[self.tasks[name]])
                    for name, p in predictions.items()}
        return {name: self.combiners[name](p.flatten(1)) for name, p in predictions.items()}

    def forward(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> dict[str, Tensor]:
        return self.combine(self._member_predictions(inputs, masks))

    def embed(self, inputs: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        """The members' joint representations, concatenated."""
        return torch.cat([cast(Any, m).embed(inputs, masks) for m in self.members.values()], dim=1)

    @torch.no_grad()
    def member_predictions(self, data: Any, batch_size: int = 256) -> dict[str, Tensor]:
        """:meth:`_member_predictions` of encoded ``data`` (an :class:`~polymodal.data.dataset.EncodedData`),
        batched, in eval mode, on the CPU."""
        self.eval()
        parts: dict[str, list[Tensor]] = {name: [] for name in self.tasks}
        for start in range(0, len(data), batch_size):
            batch = data.subset(np.arange(start, min(start + batch_size, len(data))))
            for name, value in self._member_predictions(batch.inputs, batch.masks).items():
                parts[name].append(value.float().cpu())
        return {name: torch.cat(v) for name, v in parts.items()}

    @torch.no_grad()
    def fit_combiner(self, predictions: Mapping[str, Tensor], targets: Mapping[str, Tensor],
                     l2: float = 1e-3) -> None:
        """Fit every target's meta-model on the members' ``predictions`` (of :meth:`member_predictions`)
        for rows they were not trained on, against those rows' encoded ``targets``."""
        for name, task in self.tasks.items():
            layer = self.combiners[name]
            if not isinstance(layer, nn.Linear):  # pragma: no cover - built as Linear
                raise TypeError(f"ensemble combiner of {name!r} must be linear")
            keep = labelled_rows(targets[name])  # a multi-task row may lack this target's label
            w, b = fit_linear(predictions[name][keep].flatten(1), targets[name][keep], TASK_ACTIVATION[task],
                              layer.out_features, l2)
            layer.weight.copy_(w.to(layer.weight))
            layer.bias.copy_(b.to(layer.bias))
        self.fitted.fill_(True)


__all__ = ["EnsembleModel"]
