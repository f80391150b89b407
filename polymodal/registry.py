"""A small typed registry: names to factories, for the CLI and the benchmark runner.

Example
-------
>>> from polymodal.fusion import FUSIONS
>>> fusion = FUSIONS.create("concat", input_dims={"image": 8, "audio": 4})
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered factory with a one-line description."""

    name: str
    factory: Callable[..., T]
    description: str

    def parameters(self) -> list[str]:
        """Names of the keyword arguments the factory accepts."""
        sig = inspect.signature(self.factory)
        return [
            p.name
            for p in sig.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
        ]


class Registry(Generic[T]):
    """Maps names to factories; unknown names and unknown arguments are errors listing the valid ones."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._families: dict[str, tuple[Callable[[str], Callable[..., T]], str, str]] = {}

    def register(self, name: str, description: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name``."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[name] = Entry(name, factory, description)
            return factory

        return decorate

    def register_prefix(self, prefix: str, description: str, factory_for: Callable[[str], Callable[..., T]],
                        usage: str) -> None:
        """Serve every name ``prefix + REST``: ``factory_for(REST)`` is its factory (e.g. ``hf:NAME_OR_PATH``).

        ``usage`` is how the names are written (``"hf:NAME_OR_PATH"``), shown where names are listed;
        ``factory_for`` must not load anything (it is called to list the arguments)."""
        if prefix in self._families or not prefix:
            raise ValueError(f"{self.kind} prefix {prefix!r} is already registered or empty")
        self._families[prefix] = (factory_for, description, usage)

    def get(self, name: str) -> Entry[T]:
        for prefix, (factory_for, description, _) in self._families.items():
            if name.startswith(prefix):
                if not name[len(prefix):].strip():
                    raise ValueError(f"{self.kind} {name!r} names nothing after {prefix!r}")
                return Entry(name, factory_for(name[len(prefix):]), description)
        if name not in self._entries:
            known = ", ".join([*sorted(self._entries), *(usage for _, _, usage in self._families.values())])
            raise ValueError(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}")
        return self._entries[name]

    def create(self, name: str, /, **kwargs: Any) -> T:
        """Build ``name`` with ``kwargs``; an argument the factory does not take is an error."""
        entry = self.get(name)
        sig = inspect.signature(entry.factory)
        takes_var_kw = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        if not takes_var_kw:
            valid = entry.parameters()
            unknown = sorted(set(kwargs) - set(valid))
            if unknown:
                raise ValueError(
                    f"unknown argument(s) {', '.join(unknown)} for {self.kind} {name!r}; "
                    f"valid arguments: {', '.join(valid)}"
                )
        return entry.factory(**kwargs)

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries or (isinstance(name, str) and any(name.startswith(p) for p in self._families))

    def __iter__(self) -> Iterator[Entry[T]]:
        """The named entries, then one entry per prefix (named by its usage, e.g. ``hf:NAME_OR_PATH``)."""
        named = [self._entries[n] for n in self.names()]
        families = [Entry(usage, factory_for(usage[len(prefix):]), description)
                    for prefix, (factory_for, description, usage) in self._families.items()]
        return iter([*named, *families])

    def __len__(self) -> int:
        return len(self._entries)
