"""polymodal's own exceptions. Every error a user can cause is one of these (or ValueError/TypeError)."""

from __future__ import annotations

from dataclasses import dataclass


class PolymodalError(Exception):
    """Base class of polymodal's documented errors."""


class PolymodalWarning(UserWarning):
    """Something the user should know that does not stop the run (e.g. ``--resume`` without a checkpoint):
    the command line prints it as one ``warning:`` line, without Python's source line."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a table: where it is, what is wrong and what to do."""

    message: str
    row: int | None = None
    column: str | None = None
    file: str | None = None
    hint: str | None = None
    severity: str = "error"  # "error" stops training under --on-error raise; "warning" never does

    def location(self) -> str:
        parts = []
        if self.file is not None:
            parts.append(f"file {self.file}")
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column!r}")
        return ", ".join(parts) if parts else "table"

    def __str__(self) -> str:
        text = f"{self.location()}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class DataError(PolymodalError, ValueError):
    """The table has problems; ``problems`` lists every one of them."""

    def __init__(self, summary: str, problems: list[Problem] | None = None) -> None:
        self.problems = list(problems or [])
        lines = [summary]
        shown = self.problems[:50]
        lines += [f"  - {p}" for p in shown]
        if len(self.problems) > len(shown):
            lines.append(f"  ... and {len(self.problems) - len(shown)} more")
        super().__init__("\n".join(lines))


class BundleError(PolymodalError, ValueError):
    """A model bundle is missing, broken, or unsafe to load."""


class ResumeError(PolymodalError, ValueError):
    """A resume checkpoint cannot be used for this run (it was written by a different one)."""


class TrainingError(PolymodalError, RuntimeError):
    """Training cannot go on: e.g. the loss became NaN or infinite (the message says where it came from)."""
