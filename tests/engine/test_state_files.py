import sys
import textwrap
from pathlib import Path

import pytest
import torch

from polymodal.engine.state_files import JSON, TENSORS, check_state_path, load_state, save_state, state_exists
from polymodal.errors import ResumeError
from tests.engine.processes import kill_when


def _stepped_optimizer() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01, betas=(0.8, 0.95))
    model(torch.randn(4, 3)).pow(2).sum().backward()
    optimizer.step()
    return model, optimizer


def test_optimizer_state_comes_back_exactly(tmp_path: Path) -> None:
    model, optimizer = _stepped_optimizer()
    save_state(tmp_path / "s", {"optimizer": optimizer.state_dict(), "epoch": 3, "best": float("inf")})
    back = load_state(tmp_path / "s")
    fresh = torch.optim.AdamW(model.parameters(), lr=0.5)
    fresh.load_state_dict(back["optimizer"])
    saved, restored = optimizer.state_dict(), fresh.state_dict()
    assert restored["param_groups"] == saved["param_groups"]  # betas stay a tuple, lr comes back
    assert set(restored["state"]) == {0, 1}  # parameter indices stay integers
    for index, values in saved["state"].items():
        for key, value in values.items():
            assert torch.equal(restored["state"][index][key], value)
    assert back["epoch"] == 3 and back["best"] == float("inf")


def test_refuses_what_it_cannot_store_without_pickle(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"cannot save object at \.a\.b\[1\] of a training state"):
        save_state(tmp_path / "s", {"a": {"b": [1, object()]}})
    assert not state_exists(tmp_path / "s")


def test_a_kill_while_writing_leaves_the_previous_state(tmp_path: Path) -> None:
    target, ready = tmp_path / "resume", tmp_path / "writing"
    save_state(target, {"epoch": 1, "w": torch.ones(3)})
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        import torch
        import polymodal.engine.state_files as sf

        def blocking_save(tensors, path):
            Path(path).write_bytes(b"half a safetens")  # a partial file, then hang until killed
            Path({str(ready)!r}).touch()
            time.sleep(600)

        sf.save_file = blocking_save
        sf.save_state({str(target)!r}, {{"epoch": 2, "w": torch.zeros(3)}})
    """)
    kill_when([sys.executable, "-c", script], ready.exists)
    back = load_state(target)
    assert back["epoch"] == 1 and torch.equal(back["w"], torch.ones(3))
    assert sorted(p.name for p in target.iterdir()) == sorted([JSON, TENSORS])


def test_a_truncated_state_is_a_resume_error_naming_the_file(tmp_path: Path) -> None:
    target = tmp_path / "resume"
    save_state(target, {"epoch": 1, "w": torch.ones(3)})
    tensors = target / TENSORS
    tensors.write_bytes(tensors.read_bytes()[:-4])
    with pytest.raises(ResumeError, match=r"resume/state\.safetensors is damaged: it ends after 8 of its 12 bytes "
                                          r"of tensors \(the file is truncated\); the saved state is damaged: start"):
        load_state(target)
    save_state(target, {"epoch": 1, "w": torch.ones(3)})
    (target / JSON).write_text((target / JSON).read_text()[:10])
    with pytest.raises(ResumeError, match=r"resume/state\.json is not valid JSON .*; the saved state is damaged"):
        load_state(target)


def test_a_folder_holding_other_files_is_not_replaced(tmp_path: Path) -> None:
    target = tmp_path / "resume"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    with pytest.raises(ResumeError, match=r"refusing to replace .*resume: it holds notes\.txt, which polymodal did not "
                                          r"write"):
        save_state(target, {"epoch": 1})
    assert (target / "notes.txt").read_text() == "mine"
    assert check_state_path(tmp_path / "absent") == tmp_path / "absent"


def test_a_state_respects_the_umask(tmp_path: Path) -> None:
    import os
    import stat

    previous = os.umask(0o022)
    try:
        save_state(tmp_path / "s", {"w": torch.ones(2)})
    finally:
        os.umask(previous)
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "s").iterdir()} == {0o644}
