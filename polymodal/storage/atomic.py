"""Atomic writes: a reader sees the old file (or folder) or the new one, never a half-written one.

Files and folders are created with the permissions any other file of the user gets (``0o666`` /
``0o777`` less the umask), not the private ``0o600`` / ``0o700`` of :mod:`tempfile`. Writers of one
folder are serialised by a lock (:func:`locked`), and the temporaries of a writer that was killed
(``.NAME.new-<pid>-<random>``) are removed by the next writer of that folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

OwnershipCheck = Callable[[Path], object]  # raises when the folder there may not be replaced


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    atomic_write_with(path, write)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def atomic_write_with(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp_path)`` and move the result to ``path`` atomically.

    The file gets the mode of the file it replaces, or ``0o666`` less the umask when it is new.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_file(path)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _new_file(path: Path) -> Path:
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{path.suffix or '.tmp'}"
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # the umask applies
            return tmp
        except FileExistsError:
            continue


def write_with_umask(path: str | Path, write: Callable[[Path], None]) -> None:
    """Call ``write(path)``, then give the file the mode the umask gives a new file (a writer such as
    safetensors' ``save_file`` makes it ``0o600`` whatever the umask)."""
    path = Path(path)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o666))  # the umask applies
    mode = path.stat().st_mode & 0o7777
    write(path)
    os.chmod(path, mode)


@contextmanager
def locked(path: str | Path) -> Iterator[None]:
    """Hold the lock of ``path`` (``flock`` on ``.NAME.lock`` beside it) until the block ends.

    Every writer of a folder (and :func:`recover_directory`) takes it, so two processes saving to the
    same place take turns instead of tearing each other's renames apart. The lock file is removed on
    release; a waiter that then holds a lock on the removed file notices and locks the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.parent / f".{path.name}.lock"
    while True:
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, lock):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the holder before us removed the file we waited on: lock the current one
    try:
        yield
    finally:
        lock.unlink(missing_ok=True)  # while still locked: nobody else can hold this file now
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = path.stat()
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


@contextmanager
def atomic_directory(path: str | Path, check: OwnershipCheck | None = None) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``path``; on success it replaces ``path``.

    The whole write holds :func:`locked`. ``check(path)`` runs under the lock before anything is
    written, and again on a leftover ``.NAME.old``: it raises when the folder there may not be
    replaced (it is not one this writer made). The old folder is renamed aside first and removed only
    after the new one is in place, so a kill at any moment leaves either the complete old folder or the
    complete new one (possibly under its ``.old`` name, which :func:`recover_directory` puts back).
    """
    path = Path(path)
    with locked(path):
        _recover(path)
        _remove_stale_temporaries(path)
        old = path.parent / f".{path.name}.old"
        if check is not None:
            check(path)
            if old.exists():
                check(old)
        tmp = _new_directory(path)
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        if old.exists():
            shutil.rmtree(old)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)


def _new_directory(path: Path) -> Path:
    while True:
        tmp = path.parent / f".{path.name}.new-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            tmp.mkdir(mode=0o777)  # the umask applies, as to any folder the user makes
            return tmp
        except FileExistsError:
            continue


def _remove_stale_temporaries(path: Path) -> None:
    """Remove the ``.NAME.new-<pid>-*`` folders beside ``path`` whose process is no longer running (a
    save that was killed). Called under the lock, so this process has none in progress; a temporary
    of another live process (a writer that does not lock) is left alone."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.new-(\d+)-[0-9a-f]+")
    with contextlib.suppress(FileNotFoundError):
        for item in path.parent.iterdir():
            match = pattern.fullmatch(item.name)
            if match and item.is_dir() and not item.is_symlink() and not _alive(int(match.group(1))):
                shutil.rmtree(item, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # a process of a previous run (another container) with our number
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def recover_directory(path: str | Path) -> Path:
    """If a save was killed between its two renames, put the previous folder back."""
    path = Path(path)
    old = path.parent / f".{path.name}.old"
    if not path.exists() and old.is_dir():
        with locked(path):  # a save in progress finishes first; then there may be nothing to recover
            _recover(path)
    return path


def _recover(path: Path) -> None:
    old = path.parent / f".{path.name}.old"
    if not path.exists() and old.is_dir() and not old.is_symlink():
        os.replace(old, path)
