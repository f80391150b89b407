import os
from pathlib import Path

import pytest

from polymodal.engine.atomic import atomic_directory, atomic_write_text, recover_directory


def test_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old")
    with pytest.raises(RuntimeError), atomic_directory(tmp_path / "d") as tmp:
        (tmp / "x").write_text("half")
        raise RuntimeError("killed")
    assert path.read_text() == "old"
    assert not (tmp_path / "d").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_directory_is_replaced_whole(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
    with atomic_directory(target) as tmp:
        (tmp / "b").write_text("2")
    assert sorted(p.name for p in target.iterdir()) == ["b"]


def test_recover_after_a_kill_between_the_renames(tmp_path: Path) -> None:
    target = tmp_path / "bundle"
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
    os.replace(target, tmp_path / ".bundle.old")  # state after the first rename, before the second
    assert (recover_directory(target) / "a").read_text() == "1"
