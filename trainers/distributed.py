"""One worker, one or many processes: torchrun sets WORLD_SIZE/RANK/LOCAL_RANK and we join.

Single process when WORLD_SIZE is unset or 1. Strategies: DDP (default) and FSDP2
(``fully_shard`` per decoder layer, then the root) where torch has it. Only rank 0 emits events
and writes files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List

import torch
import torch.nn as nn

from .compat import fully_shard_fn
from .errors import ConfigError


@dataclass
class DistributedState:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    strategy: str = "none"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def pick_device(device: str, local_rank: int = 0) -> torch.device:
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("device", "'cuda' was asked for but torch sees no CUDA device")
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed(config) -> DistributedState:
    """Join the torchrun process group when WORLD_SIZE > 1; pick this rank's device."""
    world_size = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    device = pick_device(config.device, local_rank)
    if world_size <= 1:
        return DistributedState(device=device)
    import torch.distributed as dist

    backend = config.distributed.backend
    if backend == "auto":
        backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistributedState(world_size=world_size, rank=rank, local_rank=local_rank, device=device,
                            strategy=config.distributed.strategy)


def all_reduce_sum(tensor: torch.Tensor, state: DistributedState) -> torch.Tensor:
    if state.active:
        import torch.distributed as dist

        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_rank(flag: bool, state: DistributedState) -> bool:
    """True when the flag is set on any rank (e.g. one rank got SIGTERM)."""
    if not state.active:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=state.device)
    return bool(all_reduce_sum(t, state).item() > 0)


def barrier(state: DistributedState) -> None:
    if state.active:
        import torch.distributed as dist

        dist.barrier()


def shutdown(state: DistributedState) -> None:
    if state.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def _decoder_layers(model) -> List[nn.Module]:
    base = model.base()
    if model.family == "tiny":
        return list(base.layers)
    for getter in (lambda b: b.get_decoder().layers, lambda b: getattr(b, b.base_model_prefix).layers):
        try:
            return list(getter(base))
        except Exception:
            continue
    return []


def wrap_model(model, state: DistributedState) -> nn.Module:
    """DDP or FSDP2 around a PreferenceModel; the model itself when not distributed."""
    if not state.active:
        return model
    if state.strategy == "fsdp":
        fully_shard = fully_shard_fn()
        if fully_shard is None:
            raise ConfigError("distributed.strategy", f"'fsdp' needs FSDP2 (torch >= 2.4); this is torch {torch.__version__}")
        for layer in _decoder_layers(model):
            fully_shard(layer)
        fully_shard(model, reshard_after_forward=False)
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [state.device.index] if state.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(module: nn.Module) -> nn.Module:
    return module.module if hasattr(module, "module") and hasattr(module, "no_sync") else module
