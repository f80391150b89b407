"""What the command line prints, and how: user strings are never markup, and a log file keeps values whole.

Column names, file names, paths and error messages are the user's, so nothing printed here is read as rich
markup or emoji codes: the consoles have both turned off, a style applies to a whole piece of text
(:class:`rich.text.Text`), and table cells are ``Text`` too. A value like ``score[/]`` or ``[red]x`` prints as
it is and cannot crash the output.

When the output is not a terminal (a pipe, a file), lines are never wrapped, tables are printed at their full
width and problems one per line, so ``polymodal inspect t.csv > log; grep img_003.png log`` finds the file.

Example
-------
>>> out = Printer()
>>> out.line("model saved to ", ("m[/]", "bold"))  # doctest: +SKIP
model saved to m[/]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from polymodal.errors import Problem

Piece = str | tuple[str, str]
"""Plain text, or ``(text, style)``; never parsed as markup."""

FULL_WIDTH = 1_000_000  # off a terminal: wide enough that no table or line is ever folded
_LEFT_COLUMNS = ("method", "target", "column", "kind", "modality", "arguments", "description", "namespace",
                 "encoder", "family", "model types", "pooling", "example")
PROBLEM_COLUMNS = ("severity", "row", "column", "file", "problem", "what to do")


class Printer:
    """Prints to stdout (or stderr) through a rich console made for the stream as it is at that moment."""

    def __init__(self, stderr: bool = False) -> None:
        self.stderr = stderr

    def console(self) -> Console:
        """A console for the current stream (tests and callers may have replaced ``sys.stdout``), with markup,
        emoji codes and highlighting off; full width and no wrapping when the stream is not a terminal."""
        stream = sys.stderr if self.stderr else sys.stdout
        terminal = _is_terminal(stream)
        return Console(file=stream, markup=False, emoji=False, highlight=False, soft_wrap=not terminal,
                       width=None if terminal else FULL_WIDTH)

    @property
    def is_terminal(self) -> bool:
        return _is_terminal(sys.stderr if self.stderr else sys.stdout)

    def line(self, *pieces: Piece) -> None:
        """One line of ``pieces``: plain strings, or ``(text, style)`` for a styled part."""
        self.console().print(Text.assemble(*pieces))

    def table(self, title: str, rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> None:
        """A table of ``rows`` (dicts) by ``columns``; floats with 4 decimals, ``None`` blank."""
        table = Table(title=Text(title))
        for col in columns:
            left = col in _LEFT_COLUMNS
            # numbers never fold their header ("median_rank" stays whole on a narrow terminal)
            table.add_column(Text(col), justify="left" if left else "right", overflow="fold",
                             min_width=None if left else len(col))
        for row in rows:
            table.add_row(*[Text(format_value(row.get(c))) for c in columns])
        self.console().print(table)

    def problems(self, problems: Sequence[Problem]) -> None:
        """Problems of a table: a table on a terminal; otherwise one tab-separated line per problem
        (severity, row, column, file, problem, what to do) after a header line, for grep and cut."""
        cells = [[p.severity, "" if p.row is None else str(p.row), p.column or "", p.file or "", p.message,
                  p.hint or ""] for p in problems]
        if self.is_terminal:
            table = Table(title=Text("problems"))
            for col in PROBLEM_COLUMNS:
                table.add_column(Text(col), overflow="fold")
            for row in cells:
                table.add_row(*map(Text, row))
            self.console().print(table)
            return
        stream = sys.stderr if self.stderr else sys.stdout
        for row in [list(PROBLEM_COLUMNS), *cells]:  # written as they are: rich would expand the tabs
            stream.write("\t".join(_one_line(c) for c in row) + "\n")


def format_value(value: Any) -> str:
    """A cell of a printed table: floats with 4 decimals, ``None`` blank, anything else as ``str``."""
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)


def _one_line(cell: str) -> str:
    """A cell of a tab-separated line: tabs and line breaks inside it become spaces."""
    return " ".join(cell.replace("\t", " ").splitlines())


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


out = Printer()
err = Printer(stderr=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
