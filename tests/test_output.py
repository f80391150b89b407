"""What the command line prints: user strings are never markup, and off a terminal values stay whole."""

from __future__ import annotations

import io

import pytest

from polymodal.errors import Problem
from polymodal.output import Printer

LONG = "/data/" + "a_long_folder_name_for_the_images/" * 3 + "img_003.png"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("value", ["score[/]", "[red]x", "d[/x].csv", "[bold]", ":smile:", "[link=x]y"])
def test_user_strings_print_as_they_are(value: str, capsys) -> None:
    out = Printer()
    out.line("column ", (value, "bold"), f" and {value}")
    out.table(f"table {value}", [{"column": value, "n": 1.5}], ["column", "n"])
    printed = capsys.readouterr().out
    assert f"column {value} and {value}\n" in printed
    assert f"table {value}" in printed and f"│ {value} │ 1.5000 │" in printed


def test_off_a_terminal_long_values_and_headers_stay_on_one_line(capsys) -> None:
    Printer().line("model saved to ", LONG, " and to ", LONG)
    Printer().table("retrieval image -> audio", [{"method": "pretrained", "median_rank": 1.0, "file": LONG}],
                    ["method", "median_rank", "recall@1", "file"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"model saved to {LONG} and to {LONG}"
    assert any("median_rank" in line and "recall@1" in line for line in lines)
    assert any(LONG in line and "pretrained" in line for line in lines)


def test_off_a_terminal_problems_are_one_tab_separated_line_each(capsys) -> None:
    problems = [Problem("image file not found", row=3, column="image[/]", file=LONG, hint="fix the path"),
                Problem("a line\nbreak\tand a tab", column="x", severity="warning")]
    Printer().problems(problems)
    assert capsys.readouterr().out.splitlines() == [
        "severity\trow\tcolumn\tfile\tproblem\twhat to do",
        f"error\t3\timage[/]\t{LONG}\timage file not found\tfix the path",
        "warning\t\tx\t\ta line break and a tab\t",
    ]


def test_on_a_terminal_problems_are_a_table_and_headers_do_not_fold(monkeypatch) -> None:
    screen = Terminal()
    monkeypatch.setattr("sys.stdout", screen)
    monkeypatch.setenv("COLUMNS", "80")
    Printer().problems([Problem("image file not found", row=3, column="image", file=LONG)])
    scores = {"recall@1": 0.5, "recall@5": 0.75, "recall@10": 1.0, "median_rank": 2.0, "mean_rank": 3.5, "n": 120.0}
    Printer().table("retrieval image -> audio", [{"method": "pretrained", **scores}], ["method", *scores])
    text = screen.getvalue()
    assert "problems" in text and "severity" in text and "\t" not in text
    assert all(name in text for name in scores)
