"""A Hugging Face model's trainable stages, for fine-tuning the last N: stem, layers, the last layer with the head.

The layers are the model's main stack: the ``nn.ModuleList`` holding the most parameters (the
shallowest on a tie): ``encoder.layer`` of BERT, ``layers`` of ViT, ``encoder.stages`` of ConvNeXt
and ResNet, ``encoder.layers`` of wav2vec2 and Whisper. Everything before the stack (embeddings,
convolutional feature extractor) is the first block; everything after it (final norm, pooler) goes
with the last layer, so ``last:1`` trains the last layer and what follows it. Parameters that do not
reach the pooled output (a pooler that is not used, say) belong to no block and never train.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from torch import nn


class ParamGroup(nn.Module):
    """Some of a model's parameters as one block: ``requires_grad_`` sets exactly them, ``eval``/``train``
    reach the submodules made only of them. Built on demand, never registered in the model."""

    def __init__(self, modules: Sequence[nn.Module], params: Sequence[nn.Parameter]) -> None:
        super().__init__()
        self.parts = nn.ModuleList(modules)
        self._params = list(params)

    def parameters(self, recurse: bool = True) -> Iterator[nn.Parameter]:
        return iter(self._params)

    def requires_grad_(self, requires_grad: bool = True) -> ParamGroup:
        for param in self._params:
            param.requires_grad_(requires_grad)
        return self


def main_stack(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """``(name, stack)``: the ModuleList holding the most parameters, the shallowest on a tie."""
    lists = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m)]
    if not lists:
        raise ValueError(f"{type(model).__name__} has no stack of layers (no nn.ModuleList) to fine-tune by block")
    name, stack = max(lists, key=lambda item: (sum(p.numel() for p in item[1].parameters()), -item[0].count(".")))
    return name, stack


def _cover(module: nn.Module, prefix: str, names: set[str]) -> list[nn.Module]:
    """The largest submodules of ``module`` whose parameters are all in ``names`` (at least one)."""
    own = [prefix + n for n, _ in module.named_parameters()]
    if own and all(n in names for n in own):
        return [module]
    return [m for child_name, child in module.named_children() for m in _cover(child, f"{prefix}{child_name}.", names)]


def split_blocks(model: nn.Module, used: set[str]) -> list[ParamGroup]:
    """The blocks of ``model`` (see the module docstring); only the parameters named in ``used`` are in them."""
    stack_name, stack = main_stack(model)
    params = [(n, p) for n, p in model.named_parameters() if n in used]
    layer_of = {f"{stack_name}.{i}.{n}": i for i, layer in enumerate(stack) for n, _ in layer.named_parameters()}
    first = next((k for k, (n, _) in enumerate(params) if n in layer_of), len(params))
    groups: list[list[tuple[str, nn.Parameter]]] = [params[:first]]
    groups += [[(n, p) for n, p in params if layer_of.get(n) == i] for i in range(len(stack))]
    groups[-1] += [(n, p) for n, p in params[first:] if n not in layer_of]
    blocks = []
    for group in groups:
        if group:
            names = {n for n, _ in group}
            blocks.append(ParamGroup(_cover(model, "", names), [p for _, p in group]))
    return blocks
