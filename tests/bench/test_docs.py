"""docs/benchmarks.md is generated from the results files, never edited by hand."""

from __future__ import annotations

from pathlib import Path

from polymodal.bench.docs import SECTIONS, render_benchmarks_doc, write_benchmarks_doc
from polymodal.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_committed_page_equals_the_regenerated_one() -> None:
    page = (REPO / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert page == render_benchmarks_doc(REPO / "benchmarks" / "results"), (
        "docs/benchmarks.md differs from the results files: run `polymodal bench-docs`")


def test_sections_come_from_the_results_files(tmp_path: Path) -> None:
    (tmp_path / "avdigits.md").write_text("# Title\n\nmeasured text\n\n## Sub\n\n| a |\n|---|\n| 1 |\n")
    page = render_benchmarks_doc(tmp_path)
    assert "measured text" in page and "### Sub" in page and "# Title" not in page
    assert page.count("Not measured yet") == len(SECTIONS) - 1


def test_cli_writes_the_page(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    out = tmp_path / "docs" / "benchmarks.md"
    assert main(["bench-docs", "--results", str(tmp_path / "results"), "--out", str(out)]) == 0
    assert out.read_text() == render_benchmarks_doc(tmp_path / "results")
    assert write_benchmarks_doc(tmp_path / "results", out) == out
