import os
import re
import stat
from pathlib import Path

import pytest

from polymodal.storage.atomic import atomic_directory, atomic_write_text, recover_directory


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


def test_a_killed_save_leaves_temporaries_the_next_save_removes(tmp_path: Path) -> None:
    import sys
    import textwrap

    from tests.engine.processes import kill_when

    target, ready = tmp_path / "d", tmp_path / "writing"
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from polymodal.storage.atomic import atomic_directory

        with atomic_directory({str(target)!r}) as tmp:
            (tmp / "half").write_text("x")
            Path({str(ready)!r}).touch()
            time.sleep(600)
    """)
    kill_when([sys.executable, "-c", script], ready.exists)
    left = [p.name for p in tmp_path.glob(".d.new-*")]
    assert len(left) == 1 and re.fullmatch(r"\.d\.new-\d+-[0-9a-f]+", left[0])  # the pid is in the name
    with atomic_directory(target) as tmp:
        (tmp / "a").write_text("1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d", "writing"]  # no temporary, no lock file left


def test_a_temporary_of_a_running_process_is_left_alone(tmp_path: Path) -> None:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        busy = tmp_path / f".d.new-{proc.pid}-0123abcd"
        busy.mkdir()
        with atomic_directory(tmp_path / "d") as tmp:
            (tmp / "a").write_text("1")
        assert busy.is_dir()
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(("umask", "folder", "file"), [(0o022, 0o755, 0o644), (0o077, 0o700, 0o600)])
def test_writes_respect_the_umask(tmp_path: Path, umask: int, folder: int, file: int) -> None:
    previous = os.umask(umask)
    try:
        with atomic_directory(tmp_path / "d") as tmp:
            (tmp / "a").write_text("1")
        atomic_write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == folder
    assert stat.S_IMODE((tmp_path / "d" / "a").stat().st_mode) == file
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == file


def test_a_replaced_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_text("old")
    path.chmod(0o640)
    atomic_write_text(path, "new")
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o640


def test_check_refuses_before_anything_is_written(tmp_path: Path) -> None:
    target = tmp_path / "d"
    target.mkdir()
    (target / "mine.txt").write_text("keep")

    def refuse(path: Path) -> None:
        raise ValueError(f"not mine: {path.name}")

    with pytest.raises(ValueError, match=r"not mine: d"), atomic_directory(target, check=refuse):
        pytest.fail("the block must not run")
    assert (target / "mine.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
