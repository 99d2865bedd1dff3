"""Data-parallel training of one model over several processes (torchrun + DDP).

``benchmark/train.py`` trains in one process. This module holds the pieces a multi-process
trainer needs: process-group set-up from the ``torchrun`` environment (gloo on CPU, nccl on
CUDA), wrapping a model in ``DistributedDataParallel``, a rank's share of a global batch and
a plain SGD step loop. With equal shards, DDP's gradient all-reduce (mean over ranks) makes
the update equal to one process's update on the whole global batch, so the weights match a
single-process run within float tolerance (models without batch-norm; BN statistics are
per rank unless converted with ``torch.nn.SyncBatchNorm``).

Launch: ``torchrun --nproc_per_node=N script.py`` (sets RANK, WORLD_SIZE, MASTER_ADDR,
MASTER_PORT) or ``torch.multiprocessing.spawn`` as in :func:`spawn_worker`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel


def backend_for(device: torch.device) -> str:
    """``nccl`` for CUDA devices, ``gloo`` otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


def init_from_env(device: torch.device | str = "cpu") -> tuple[int, int]:
    """Join the process group described by RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT.

    Returns ``(rank, world_size)``. Does nothing (but report) if already initialised.
    """
    device = torch.device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend_for(device), rank=int(os.environ["RANK"]),
                                world_size=int(os.environ["WORLD_SIZE"]))
    return dist.get_rank(), dist.get_world_size()


def wrap(model: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """``model`` on ``device`` wrapped in DistributedDataParallel (plain if world size is 1)."""
    device = torch.device(device)
    model = model.to(device)
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return model
    ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def shard(batch: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """This rank's contiguous, equal share of a global batch (size divisible by ``world``)."""
    if batch.shape[0] % world:
        raise ValueError(f"global batch {batch.shape[0]} is not divisible by {world} ranks")
    n = batch.shape[0] // world
    return batch[rank * n:(rank + 1) * n]


def train_steps(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *,
                lr: float, rank: int = 0, world: int = 1,
                device: torch.device | str = "cpu") -> list[float]:
    """SGD on MSE over global batches; each rank uses its shard. Returns the local losses.

    ``model`` is the (possibly DDP-wrapped) model; with DDP the gradients are averaged over
    ranks during ``backward``, so every rank takes the same step.
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for x, y in batches:
        x, y = shard(x, rank, world).to(device), shard(y, rank, world).to(device)
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, DistributedDataParallel) else model


def spawn_worker(rank: int, world: int, port: int, out: str, build: str, steps: int,
                 batch: int, lr: float) -> None:
    """``torch.multiprocessing.spawn`` target: train ``build()`` with DDP, rank 0 saves.

    ``build`` is ``"module:function"`` returning ``(model, batches)`` deterministically.
    """
    import importlib

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    init_from_env("cpu")
    try:
        module, name = build.split(":")
        model, batches = getattr(importlib.import_module(module), name)(steps, batch)
        model = wrap(model, "cpu")
        train_steps(model, batches, lr=lr, rank=rank, world=world)
        if rank == 0:
            torch.save(unwrap(model).state_dict(), Path(out))
    finally:
        dist.destroy_process_group()


def tiny_problem(steps: int, batch: int) -> tuple[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]:
    """A seeded tiny DRRN (B1U1, 4 channels, no BN) and ``steps`` global batches of 9x9 patches."""
    from benchmark.registry import create_model

    torch.manual_seed(0)
    model = create_model("drrn", B=1, U=1, channels=4, bn=False)
    g = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(steps):
        x = torch.rand(batch, 1, 9, 9, generator=g)
        batches.append((x, x + 0.1 * torch.rand(batch, 1, 9, 9, generator=g)))
    return model, batches
