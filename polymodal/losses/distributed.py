"""Losses over the global batch of a data-parallel run: gather rows and sum statistics across processes.

A contrastive loss needs every other sample of the batch as a negative, and deep CCA needs the
covariances of the whole batch; under DDP each process holds only its share. These primitives make
the global batch visible to every process, with gradients (the way OpenCLIP and TorchMultimodal
gather embeddings for CLIP):

- :func:`gather_rows` concatenates every process's rows (rank 0's first; the processes may hold
  different numbers of rows, e.g. after masking missing modalities);
- :func:`all_reduce_sum` sums a tensor (sufficient statistics) over the processes.

With one process, or when ``torch.distributed`` is not initialised, both return their input itself,
so a single-process loss is bit-identical to what it was without them.

The scale of the gradient
-------------------------
Every process computes the loss of the global batch: the same number on every process. The backward
of both primitives sums the incoming gradient over the processes (an all-reduce), so the gradient a
process gets for its own rows is ``world_size`` times the gradient of that loss for those rows.
DDP (and Lightning's ``ddp`` strategy) averages parameter gradients over the ``world_size``
processes, which cancels the factor: the averaged gradient equals the single-process gradient of the
loss on the concatenated batch, for the encoders and for the loss's own parameters (a learnable
temperature, which every process sees whole). Nothing needs rescaling; the learning rate that suits
one process with the global batch suits the DDP run.

Every process must call a primitive the same number of times in the same order (they are
collectives), so a decision such as "too few rows" must be taken on global counts
(:func:`global_count`). Code that one process runs alone while a process group exists (e.g. an
evaluation on rank 0) computes local losses inside :func:`local_batch`.

Example
-------
>>> import torch
>>> x = torch.ones(3, 2)
>>> gather_rows(x) is x  # one process: nothing to gather
True
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor

_LOCAL: ContextVar[bool] = ContextVar("polymodal_local_batch", default=False)


def gathering() -> bool:
    """True when the losses see the global batch: a process group of more than one process exists and
    the caller is not inside :func:`local_batch`."""
    return (not _LOCAL.get() and dist.is_available() and dist.is_initialized()
            and dist.get_world_size() > 1)


@contextmanager
def local_batch() -> Iterator[None]:
    """Compute losses on this process's rows only, even inside a process group (no collective is called)."""
    token = _LOCAL.set(True)
    try:
        yield
    finally:
        _LOCAL.reset(token)


def global_count(n: int) -> int:
    """``n`` summed over the processes (``n`` itself with one process)."""
    if not gathering():
        return n
    count = torch.tensor([n], dtype=torch.long, device=_device())
    dist.all_reduce(count)
    return int(count.item())


def gather_rows(x: Tensor) -> Tensor:
    """Every process's ``x`` ``[n_r, ...]`` concatenated along the rows, in rank order, with gradients.

    The processes may hold different numbers of rows (none included); the other dimensions must
    agree. The gradient of the local rows is the sum over processes of the gradient of their slot
    (see the module docstring for why that is the right scale under DDP).
    """
    if not gathering():
        return x
    out: Tensor = _GatherRows.apply(x)
    return out


def all_reduce_sum(x: Tensor) -> Tensor:
    """``x`` summed over the processes, with gradients (the backward sums the gradients likewise)."""
    if not gathering():
        return x
    out: Tensor = _AllReduceSum.apply(x)
    return out


def _device() -> torch.device:
    # NCCL communicates CUDA tensors only; gloo CPU tensors
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        world, rank = dist.get_world_size(), dist.get_rank()
        sizes = torch.zeros(world, dtype=torch.long, device=x.device)
        sizes[rank] = x.shape[0]
        dist.all_reduce(sizes)
        counts = [int(s) for s in sizes.tolist()]
        largest = max(counts)
        padded = x.new_zeros((largest, *x.shape[1:]))
        padded[: x.shape[0]] = x.detach()
        parts = [torch.empty_like(padded) for _ in range(world)]
        dist.all_gather(parts, padded.contiguous())
        ctx.start, ctx.rows = sum(counts[:rank]), x.shape[0]
        return torch.cat([part[:count] for part, count in zip(parts, counts, strict=True)])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        total = grad.contiguous().clone()
        dist.all_reduce(total)
        return total[ctx.start: ctx.start + ctx.rows]


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        total = x.detach().clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        total = grad.contiguous().clone()
        dist.all_reduce(total)
        return total
