"""LoRA (low-rank adapters, with ``peft``) on an ``hf:`` backbone: only the adapters train and are saved.

``train="lora"`` or ``"lora:r=8,alpha=16,dropout=0.05,targets=query+value"``: rank ``r`` (default 8),
scaling ``alpha`` (default 16), dropout on the adapters' input (default 0) and the names of the
modules to adapt (default: found per family — the attention query and value projections,
``query``/``value`` in BERT, ``q_proj``/``v_proj`` in ViT, wav2vec2, Whisper and CLIP; the pointwise
convolutions of ConvNeXt, the convolutions of ResNet). The base weights are frozen and kept in eval
mode; the encoder's ``state_dict`` holds the adapters only, so a bundle stores them alone (beside the
base model's name and weights digest) and loading it loads the base model, then the adapters.

Example
-------
>>> LoRASettings.parse("r=4,targets=query+value")
LoRASettings(r=4, alpha=16.0, dropout=0.0, targets=('query', 'value'))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from polymodal.encoders.base import Encoder
from polymodal.encoders.pretrained.backbone import Backbone, evaluating
from polymodal.encoders.pretrained.requirements import require

ADAPTER = "lora_"  # the parameters peft adds are named ...lora_A..., ...lora_B...
# Attention projections by name, most specific first: the first pair a model has is adapted.
QUERY_VALUE = (("query", "value"), ("q_proj", "v_proj"), ("q_lin", "v_lin"), ("query_proj", "value_proj"),
               ("Wqkv",), ("qkv",))
_KEYS = {"r": int, "alpha": float, "dropout": float, "targets": str}


@dataclass(frozen=True)
class LoRASettings:
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ()  # empty: found per family

    @classmethod
    def parse(cls, text: str) -> LoRASettings:
        """``"r=8,alpha=16,dropout=0.1,targets=query+value"`` (every part optional)."""
        values: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in str(text).split(","))):
            key, sep, value = part.partition("=")
            if not sep or key.strip() not in _KEYS:
                raise ValueError(f"train='lora:{text}': {part!r} is not KEY=VALUE with KEY one of "
                                 f"{', '.join(_KEYS)} (e.g. train=lora:r=8,alpha=16,dropout=0.05,targets=query+value)")
            try:
                values[key.strip()] = _KEYS[key.strip()](value.strip())
            except ValueError as exc:
                raise ValueError(f"train='lora:{text}': {key.strip()}={value.strip()!r} is not a number") from exc
        targets = tuple(t for t in str(values.pop("targets", "")).split("+") if t)
        settings = cls(**values, targets=targets)
        if settings.r < 1 or settings.alpha <= 0 or not 0 <= settings.dropout < 1:
            raise ValueError(f"train='lora:{text}' needs r >= 1, alpha > 0 and 0 <= dropout < 1")
        return settings

    def __str__(self) -> str:
        text = f"r={self.r},alpha={self.alpha:g},dropout={self.dropout:g}"
        return text + (f",targets={'+'.join(self.targets)}" if self.targets else "")


def find_targets(model: nn.Module, preferred: tuple[str, ...] = ()) -> list[str]:
    """The module names LoRA adapts in ``model``: those of ``preferred`` it has, else the first attention
    query/value pair it has (see :data:`QUERY_VALUE`)."""
    adaptable = (nn.Linear, nn.Conv2d, nn.Conv1d)
    leaves = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, adaptable)}
    found = [t for t in preferred if t in leaves]
    if found:
        return found
    for names in QUERY_VALUE:
        if all(n in leaves for n in names):
            return list(names)
    raise ValueError(f"found no attention projections to adapt in {type(model).__name__}; name them: "
                     "train=lora:targets=NAME+NAME (names of its Linear/Conv modules)")


class LoRAEncoder(Encoder):
    """A backbone whose module ``backbone.model`` gets LoRA adapters; only they train and are saved."""

    def __init__(self, backbone: Backbone, settings: LoRASettings, preferred: tuple[str, ...] = ()) -> None:
        super().__init__()
        peft = require("train=lora", "peft", "peft")
        model = backbone.model
        if not isinstance(model, nn.Module):
            raise TypeError(f"LoRA needs a backbone with a transformers model, not {type(backbone).__name__}")
        targets = list(settings.targets) or find_targets(model, preferred)
        have = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
        missing = [t for t in targets if t not in have]
        if missing:
            raise ValueError(f"LoRA targets {missing} are not modules of {type(model).__name__}; "
                             f"its Linear modules include: {', '.join(sorted(find_linear_names(model))[:12])}")
        backbone.requires_grad_(False)
        config = peft.LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                                 target_modules=targets)
        peft.inject_adapter_in_model(config, model)
        for name, param in backbone.named_parameters():
            param.requires_grad_(ADAPTER in name)
        _check_reached(backbone, targets)
        self.backbone = backbone
        self.settings = settings
        self.targets = tuple(targets)
        self.output_dim = backbone.output_dim
        self.register_state_dict_post_hook(_adapters_only)
        self.register_load_state_dict_pre_hook(_with_base_weights)
        self.train()  # the base model in eval mode from the start (its batch-norm statistics never move)

    def train(self, mode: bool = True) -> LoRAEncoder:
        super().train(mode)
        self.backbone.eval()  # the base model's dropout and norms stay fixed; the adapters' dropout follows mode
        for name, module in self.backbone.named_modules():
            if name.endswith("lora_dropout"):
                module.train(mode)
        return self

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone(x)


def _check_reached(backbone: Backbone, targets: list[str]) -> None:
    """One backward pass on dummy inputs: every adapter must get a gradient (a model that reads a module's
    weights without calling it, as WavLM's attention does, would leave its adapter untrained)."""
    inputs = getattr(backbone, "inputs", None)
    if inputs is None:
        return
    try:
        with evaluating(backbone), torch.enable_grad():
            out = backbone(backbone.prepare([inputs.dummy(), inputs.dummy()])).float().sum()
            if out.requires_grad:  # else no adapter is reached at all
                out.backward()
        unreached = sorted({n.split(f".{ADAPTER}")[0].rsplit(".", 1)[-1] for n, p in backbone.named_parameters()
                            if ADAPTER in n and p.grad is None})
    finally:
        for param in backbone.parameters():
            param.grad = None
    if unreached:
        raise ValueError(f"LoRA targets {unreached} of {type(backbone.model).__name__} are never called by its "
                         f"forward (it reads their weights directly), so their adapters would not train; name "
                         f"others: train=lora:targets=NAME+NAME (targets were {'+'.join(targets)})")


def find_linear_names(model: nn.Module) -> set[str]:
    return {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, nn.Linear)}


def _adapters_only(module: nn.Module, state: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    """State-dict post-hook: keep the adapters, drop the base weights (they come from the base model)."""
    for key in [k for k in state if k.startswith(prefix) and ADAPTER not in k[len(prefix):]]:
        del state[key]


def _with_base_weights(module: nn.Module, state: dict[str, Any], prefix: str, local_metadata: Any, strict: bool,
                       missing: list[str], unexpected: list[str], errors: list[str]) -> None:
    """Load pre-hook: the base weights a saved state lacks are the base model's own (already loaded)."""
    backbone = module.backbone
    assert isinstance(backbone, nn.Module)  # set in LoRAEncoder.__init__
    base: Mapping[str, Tensor] = backbone.state_dict()  # the hooks are on the encoder, not the backbone
    for key, value in base.items():
        if ADAPTER not in key:
            state.setdefault(f"{prefix}backbone.{key}", value)
