"""Contrastive and deep-CCA losses under DDP equal one process on the concatenated batch.

Two CPU processes (gloo), as TorchMultimodal's contrastive-loss DDP test: each holds half of one fixed
batch, runs a small model (linear heads and the loss's own parameters) and backpropagates its loss,
then averages the parameter gradients over the processes as ``DistributedDataParallel`` does. The
reference is one process on the whole batch. Compared: the loss (every process reports the loss of
the global batch), the averaged parameter gradients, and the gradients of each process's own input
rows divided by the number of processes (the same averaging, see :mod:`polymodal.losses.distributed`).
The halves hold different numbers of paired rows (missing modalities), and the DCCA batch of each
half alone is smaller than the latent size.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from polymodal.losses import DCCALoss, InfoNCELoss, dcca_loss, info_nce, local_batch, multimodal_info_nce
from polymodal.losses.distributed import gather_rows, gathering
from polymodal.multiview.cca_math import canonical_correlations

WORLD = 2
ROWS, DIM, LATENT = 12, 5, 7  # 6 rows per process: too few alone for a latent of 7, enough together


class _Contrastive(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({n: nn.Linear(DIM, 4, dtype=torch.float64) for n in ("a", "b", "c")})
        self.loss = InfoNCELoss(temperature=0.2)

    def forward(self, x: dict[str, Tensor], masks: dict[str, Tensor]) -> Tensor:
        z = {n: head(x[n]) for n, head in self.heads.items()}
        return self.loss(z, masks).total


class _DCCA(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.heads = nn.ModuleDict({n: nn.Linear(DIM, LATENT, dtype=torch.float64) for n in ("a", "b")})
        self.loss = DCCALoss(reg=1e-3)

    def forward(self, x: dict[str, Tensor], masks: dict[str, Tensor]) -> Tensor:
        return self.loss(self.heads["a"](x["a"]), self.heads["b"](x["b"])).total


def _batch() -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    g = torch.Generator().manual_seed(0)
    x = {n: torch.randn(ROWS, DIM, generator=g, dtype=torch.float64) for n in ("a", "b", "c")}
    masks = {n: torch.ones(ROWS, dtype=torch.bool) for n in x}
    masks["b"][[1, 2, 9]] = False  # 4 rows of the first half and 5 of the second have both a and b
    masks["c"][[0, 7]] = False
    return x, masks


def _run(model: nn.Module, x: dict[str, Tensor], masks: dict[str, Tensor], rows: slice,
         ddp: bool) -> tuple[float, dict[str, Tensor]]:
    """Loss, parameter gradients and input gradients of ``model`` on ``rows``; with ``ddp`` the gradients
    are averaged over the processes as DistributedDataParallel averages them (an all-reduce divided by
    the world size; the DDP wrapper itself is not used: its first use imports torch._dynamo, 5-10 s)."""
    torch.manual_seed(1)
    model.load_state_dict({k: torch.randn_like(v) for k, v in model.state_dict().items()})
    inputs = {n: v[rows].clone().requires_grad_(True) for n, v in x.items()}
    loss = model(inputs, {n: m[rows] for n, m in masks.items()})
    loss.backward()
    world = dist.get_world_size() if ddp else 1
    grads = {f"param.{k}": p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    for grad in grads.values():
        if ddp:
            dist.all_reduce(grad)
        grad /= world
    # what the averaging does to the objective: the gradient of mean-over-processes(loss) for the own rows
    grads.update({f"input.{n}": v.grad / world for n, v in inputs.items() if v.grad is not None})
    return float(loss.detach()), grads


def _worker(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD)
    try:
        x, masks = _batch()
        half = slice(rank * ROWS // WORLD, (rank + 1) * ROWS // WORLD)
        losses: dict[str, Any] = {}
        tensors: dict[str, Tensor] = {}
        for name, model in (("contrastive", _Contrastive()), ("dcca", _DCCA())):
            loss, grads = _run(model, x, masks, half, ddp=True)
            losses[name] = loss
            tensors.update({f"{name}.{k}": v for k, v in grads.items()})
        rows = gather_rows(torch.arange(ROWS)[half].unsqueeze(1))
        losses["gathered_rows"] = rows.squeeze(1).tolist()
        with local_batch():
            assert not gathering()
            losses["local_info_nce"] = float(info_nce(x["a"][half], x["b"][half], 0.5))
        try:
            dcca_loss(x["a"][:2], x["b"][:2])  # 2 + 2 rows for a latent of 5
        except ValueError as error:
            losses["too_small"] = str(error)
        Path(out, f"rank{rank}.json").write_text(json.dumps(losses))
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(Path(out, f"rank{rank}.safetensors")))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ranks(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict, dict[str, Tensor]]]:
    out = tmp_path_factory.mktemp("ddp")
    # fork: the children start with this process's imports (spawn would import torch and polymodal again)
    mp.start_processes(_worker, args=(_free_port(), str(out)), nprocs=WORLD, join=True, start_method="fork")
    return [(json.loads((out / f"rank{r}.json").read_text()), load_file(str(out / f"rank{r}.safetensors")))
            for r in range(WORLD)]


@pytest.mark.parametrize("name, model", [("contrastive", _Contrastive), ("dcca", _DCCA)])
def test_loss_and_gradients_under_ddp_equal_one_process(ranks: list, name: str, model: type[nn.Module]) -> None:
    x, masks = _batch()
    loss, reference = _run(model(), x, masks, slice(None), ddp=False)
    for rank, (losses, grads) in enumerate(ranks):
        assert losses[name] == pytest.approx(loss, rel=1e-12, abs=1e-12)  # every process: the global loss
        params = {k: v for k, v in reference.items() if k.startswith("param.")}
        assert params and all(f"{name}.{k}" in grads for k in params)
        for key, value in params.items():
            torch.testing.assert_close(grads[f"{name}.{key}"], value, rtol=1e-9, atol=1e-12, msg=key)
        half = slice(rank * ROWS // WORLD, (rank + 1) * ROWS // WORLD)
        for key in (k for k in reference if k.startswith("input.")):
            torch.testing.assert_close(grads[f"{name}.{key}"], reference[key][half], rtol=1e-9, atol=1e-12, msg=key)
    if name == "contrastive":  # the temperature, a parameter of the loss, is compared too
        assert "param.loss.temperature.log_scale" in reference


def test_rows_are_gathered_in_rank_order_and_local_batch_stays_local(ranks: list) -> None:
    x, _ = _batch()
    for rank, (losses, _) in enumerate(ranks):
        assert losses["gathered_rows"] == list(range(ROWS))
        half = slice(rank * ROWS // WORLD, (rank + 1) * ROWS // WORLD)
        assert losses["local_info_nce"] == pytest.approx(float(info_nce(x["a"][half], x["b"][half], 0.5)), abs=0)


def test_a_batch_too_small_over_all_processes_fails_on_every_process(ranks: list) -> None:
    for losses, _ in ranks:
        assert losses["too_small"] == ("batch of 4 is too small for a latent of size 5: use a batch of at least 6 "
                                       "paired samples (several times more estimates the correlations better) "
                                       "over all processes")


def test_one_process_is_unchanged() -> None:
    """Without a process group the losses compute exactly what they computed before the gathering."""
    x, masks = _batch()
    z = {n: v.float() for n, v in x.items()}
    assert not gathering()
    assert gather_rows(z["a"]) is z["a"]
    both = masks["a"] & masks["b"]
    za, zb = (F.normalize(z[n][both], dim=1) for n in ("a", "b"))
    logits, labels = za @ zb.T / 0.3, torch.arange(int(both.sum()))
    expected = 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))
    assert torch.equal(multimodal_info_nce(z, masks, 0.3).components["nce_a_b"], expected)
    wide = torch.cat([x["a"], x["c"]], dim=1)
    assert torch.equal(dcca_loss(wide, x["b"], reg=1e-3), -canonical_correlations(wide, x["b"], 1e-3).sum())
