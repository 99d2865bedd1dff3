"""Data-parallel training of one model over several processes (torchrun + DDP).

:func:`benchmark.trainer.train` calls :func:`context` first: under ``torchrun`` (RANK and
WORLD_SIZE set, WORLD_SIZE > 1) it joins the process group (nccl on CUDA, gloo on CPU), puts
each rank on its own GPU (LOCAL_RANK), and the trainer then wraps the model in
DistributedDataParallel. Every rank draws the same global batch from an identically seeded
sampler and trains on its contiguous share; DDP averages the gradients over ranks, and the
loss is a per-patch mean, so one step equals a single-process step on the whole global batch
and the weights match a one-process run within float tolerance. Batch-norm statistics are per
rank unless the model is converted to ``SyncBatchNorm`` (done on CUDA). Rank 0 alone builds
the shared caches first, writes checkpoints and logs, and validates.

Launch: ``torchrun --nproc_per_node=N -m benchmark train drrn --recipe fast``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel


@dataclass(frozen=True)
class Context:
    """This process's place in a data-parallel run (rank 0 of 1 without one)."""

    rank: int = 0
    world: int = 1
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """``value`` averaged over ranks (itself without DDP)."""
        if not self.enabled:
            return value
        value = value.clone()
        dist.all_reduce(value)
        return value / self.world

    def close(self) -> None:
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def backend_for(device: torch.device) -> str:
    """``nccl`` for CUDA devices, ``gloo`` otherwise."""
    return "nccl" if device.type == "cuda" else "gloo"


def context(device: torch.device) -> tuple[Context, torch.device]:
    """Join the torchrun process group when WORLD_SIZE > 1; returns (context, this rank's device).

    A CUDA device becomes ``cuda:LOCAL_RANK``. Does nothing outside torchrun.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context(), device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    owns = not dist.is_initialized()
    if owns:
        dist.init_process_group(backend_for(device), rank=int(os.environ["RANK"]),
                                world_size=world)
    return Context(dist.get_rank(), dist.get_world_size(), owns), device


class AllOutputs(nn.Module):
    """``module.forward_all`` as a forward, so DDP sees the call (recursive supervision)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> Any:
        return self.module.forward_all(x)


def wrap(model: nn.Module, ctx: Context, device: torch.device) -> nn.Module:
    """``model`` in DistributedDataParallel (itself without DDP)."""
    if not ctx.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def sync_batchnorm(model: nn.Module, ctx: Context, device: torch.device) -> nn.Module:
    """BN layers synchronised over ranks on CUDA (torch's SyncBatchNorm is CUDA-only)."""
    if ctx.enabled and device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def shard(batch: torch.Tensor, ctx: Context) -> torch.Tensor:
    """This rank's contiguous, equal share of a global batch (size divisible by the world)."""
    if not ctx.enabled:
        return batch
    if batch.shape[0] % ctx.world:
        raise ValueError(f"global batch {batch.shape[0]} is not divisible by {ctx.world} ranks")
    n = batch.shape[0] // ctx.world
    return batch[ctx.rank * n:(ctx.rank + 1) * n]


def spawn_train(rank: int, world: int, port: int, kwargs: dict[str, Any]) -> None:
    """``torch.multiprocessing.spawn`` target: ``trainer.train(**kwargs)`` as one rank of
    ``world`` on CPU (gloo), as torchrun would start it (tests, single-machine use)."""
    from benchmark import trainer

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    try:
        trainer.train(**kwargs)
    finally:
        # A spawned process joins its children at exit; loky's idle pool (the patch bank's
        # workers) would otherwise keep it alive for loky's 300 s idle timeout.
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
