"""Run polymodal in a child process, and kill one at a chosen moment (for crash tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def subprocess_env() -> dict[str, str]:
    """The environment for a child Python: this checkout's ``polymodal`` first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def cli_command(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "polymodal.cli", *map(str, args)]


def kill_when(command: Sequence[str], ready: Callable[[], bool], timeout: float = 120.0) -> None:
    """Start ``command``, wait until ``ready()`` holds, then SIGKILL it; fails if it ended on its own."""
    proc = subprocess.Popen(command, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"the process ended (code {proc.returncode}) before it could be killed:\n{err[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the process did not reach the kill point in {timeout:.0f} s")
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
