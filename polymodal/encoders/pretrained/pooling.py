"""Pooling a transformer's outputs to one vector per sample: ``cls``, ``mean`` (over a mask) or ``pooler``.

Example
-------
>>> import torch
>>> states = torch.tensor([[[1.0], [3.0], [100.0]]])
>>> class Out: last_hidden_state = states
>>> pool(Out(), "mean", torch.tensor([[1, 1, 0]])).tolist()
[[2.0]]
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from polymodal.encoders.layers import masked_mean
from polymodal.encoders.pretrained.hf_families import POOLINGS


def pool(outputs: Any, how: str, mask: Tensor | None = None) -> Tensor:
    """``[B, D]`` from a model's outputs: the first token (``cls``), the masked mean of the states (``mean``;
    the spatial mean of a feature map ``[B, C, H, W]``) or ``pooler_output`` (``pooler``)."""
    if how not in POOLINGS:
        raise ValueError(f"pooling={how!r} is not a pooling; use one of {', '.join(POOLINGS)}")
    if how == "pooler":
        pooled = getattr(outputs, "pooler_output", None)
        if pooled is None:
            raise ValueError("the model has no pooler output; use pooling=cls or pooling=mean")
        return pooled.flatten(1)
    states = outputs.last_hidden_state
    if states.dim() == 4:  # a convolutional feature map
        if how == "cls":
            raise ValueError("pooling=cls needs a transformer's token states, and this model gives a feature map; "
                             "use pooling=mean or pooling=pooler")
        return states.mean(dim=(2, 3))
    if how == "cls":
        return states[:, 0]
    if mask is not None and mask.shape[1] != states.shape[1]:
        raise ValueError(f"a mask of {mask.shape[1]} positions for {states.shape[1]} states")
    return states.mean(dim=1) if mask is None else masked_mean(states, mask)
