"""The fusion contract.

A fusion maps named features ``{modality: [B, D_m]}`` and masks ``{modality: bool [B]}`` (True =
present) to one tensor ``[B, output_dim]``. Every fusion

* registers every parameter (as ``nn.Parameter`` / in ``nn.Module`` containers) and gives each a gradient;
* handles missing modalities per sample: the features of a masked modality never change the output for
  that sample, and a sample with only one modality present gives finite values;
* gives the same answer whatever the order of the mapping (modalities are visited in sorted order).

Two flags tell the model builder what a fusion needs:

* ``raw_inputs``: the fusion wants raw (flattened) inputs instead of learned encoders (early fusion);
* ``produces_predictions``: the fusion is *late*: its factory takes ``num_outputs`` and
  ``activation`` and its output is already the task's logits, so the model adds no head.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

ACTIVATIONS = ("softmax", "sigmoid", "identity")
# the output activation of each task's predictions (late fusions and ensembles turn logits into probabilities)
TASK_ACTIVATION = {"multiclass": "softmax", "binary": "sigmoid", "multilabel": "sigmoid", "regression": "identity"}


class Fusion(nn.Module):
    """Base class of every fusion method."""

    output_dim: int
    raw_inputs: bool = False
    produces_predictions: bool = False

    def __init__(self, input_dims: Mapping[str, int]) -> None:
        super().__init__()
        if not input_dims:
            raise ValueError("a fusion needs at least one modality; input_dims is empty")
        for name, dim in input_dims.items():
            if int(dim) <= 0:
                raise ValueError(f"modality {name!r} has feature size {dim}; sizes must be positive")
        self.input_dims: dict[str, int] = {name: int(input_dims[name]) for name in sorted(input_dims)}
        self.modalities: list[str] = list(self.input_dims)

    def check_inputs(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> None:
        """Raise a precise error when features or masks do not match the fusion's modalities."""
        missing = [m for m in self.modalities if m not in features]
        if missing:
            raise ValueError(f"features for modalities {missing} are missing; expected {self.modalities}")
        for name in self.modalities:
            if name not in masks:
                raise ValueError(f"no mask given for modality {name!r}")
            x = features[name]
            if x.dim() != 2 or x.shape[1] != self.input_dims[name]:
                raise ValueError(
                    f"modality {name!r}: expected features [B, {self.input_dims[name]}], got {list(x.shape)}"
                )

    def forward(self, features: Mapping[str, Tensor], masks: Mapping[str, Tensor]) -> Tensor:
        raise NotImplementedError  # pragma: no cover


class MissingEmbeddings(nn.Module):
    """A learned vector per modality that replaces the features of samples where it is missing."""

    def __init__(self, input_dims: Mapping[str, int]) -> None:
        super().__init__()
        self.embeddings = nn.ParameterDict(
            {name: nn.Parameter(torch.zeros(dim)) for name, dim in sorted(input_dims.items())}
        )

    def forward(self, name: str, x: Tensor, mask: Tensor) -> Tensor:
        fill = self.embeddings[name].to(x.dtype).expand_as(x)
        return torch.where(mask.unsqueeze(-1).to(torch.bool), x, fill)


def mask_float(mask: Tensor, like: Tensor) -> Tensor:
    """``[B]`` bool mask as ``[B, 1]`` float of ``like``'s dtype and device."""
    return mask.to(device=like.device, dtype=like.dtype).unsqueeze(-1)


def stack_masks(masks: Mapping[str, Tensor], modalities: list[str], like: Tensor) -> Tensor:
    """Masks of ``modalities`` (in that order) stacked as ``[B, M]`` bool on ``like``'s device."""
    return torch.stack([masks[m].to(device=like.device, dtype=torch.bool) for m in modalities], dim=1)


def zero_missing(x: Tensor, mask: Tensor) -> Tensor:
    """``x [B, D]`` with the rows of missing samples set to zero.

    Done before any layer touches a modality's features, so that whatever an encoder produced for a
    missing input (even NaN) cannot reach the output or the gradients through a ``0 * value`` product.
    """
    return torch.where(mask.to(device=x.device, dtype=torch.bool).unsqueeze(-1), x, torch.zeros_like(x))


def masked_softmax(logits: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """Softmax of ``logits`` over ``dim`` restricted to entries where ``mask`` (broadcastable) is True.

    Masked entries get weight 0; a slice with no entry present gets all zeros (never NaN).
    """
    mask = mask.to(device=logits.device, dtype=torch.bool).expand_as(logits)
    any_present = mask.any(dim=dim, keepdim=True)
    filled = logits.masked_fill(~mask, float("-inf"))
    filled = torch.where(any_present, filled, torch.zeros_like(filled))
    return torch.softmax(filled, dim=dim).masked_fill(~mask, 0.0)


