"""Frozen submodules: weights fixed and kept in eval mode while the rest of a model trains.

Transferred encoders trained elsewhere (``fit --init-from BUNDLE --freeze``) and the target encoder of
the ``projection`` objective stay as they are: no gradient, and batch-norm statistics and dropout fixed
(eval mode), even though Lightning calls ``model.train()`` at every epoch.

Example
-------
>>> from torch import nn
>>> class Net(Freezable):
...     def __init__(self) -> None:
...         super().__init__()
...         self.body, self.head = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)), nn.Linear(2, 1)
>>> net = Net()
>>> net.freeze(["body"])
>>> net.train().body.training, net.head.training, net.body[0].weight.requires_grad
(False, True, False)
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn


class Freezable(nn.Module):
    """A module some of whose submodules (by dotted name) can be frozen; :meth:`train` keeps them in eval."""

    def __init__(self) -> None:
        super().__init__()
        self.frozen: list[str] = []  # a plain list of names: nothing extra in the state dict

    def freeze(self, names: Iterable[str]) -> None:
        """Freeze the submodules ``names`` (e.g. ``"encoders.image"``): ``requires_grad`` False, eval mode."""
        for name in names:
            try:
                module = self.get_submodule(name)
            except AttributeError:
                known = sorted(n for n, _ in self.named_children())
                raise ValueError(f"cannot freeze {name!r}: the model has no such submodule (top level: "
                                 f"{known})") from None
            module.requires_grad_(False)
            module.eval()
            if name not in self.frozen:
                self.frozen.append(name)

    def train(self, mode: bool = True) -> Freezable:
        super().train(mode)
        for name in getattr(self, "frozen", []):
            self.get_submodule(name).eval()
        return self
