"""Checkpoints: everything needed to continue a run exactly where it stopped.

``RUN_DIR/checkpoints/step-00000042/`` holds

* ``model.safetensors`` (``model.pt`` when safetensors is missing): the trainable parameters
  (all of them, or just LoRA adapters and heads), named as in ``PreferenceModel``
* ``optimizer.pt``: optimizer state (torch.save; loaded with ``weights_only`` where supported)
* ``rng_state.pt``: torch CPU/CUDA generator states
* ``trainer_state.json``: step, data position, tokens seen, scheduler and Python RNG state
* ``config.json``: the validated config of the run

A checkpoint is written to a ``.tmp`` folder and renamed into place, so a folder without the
suffix is always complete.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from typing import Any, Dict, List, Optional, Tuple

import torch

from .compat import safetensors_torch
from .distributed import DistributedState, barrier, unwrap
from .errors import TrainerError

FORMAT_VERSION = 1
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoints_root(run_dir: str) -> str:
    return os.path.join(run_dir, "checkpoints")


def list_checkpoints(run_dir: str) -> List[Tuple[int, str]]:
    root = checkpoints_root(run_dir)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        match = _STEP_DIR.match(name)
        path = os.path.join(root, name)
        if match and os.path.isfile(os.path.join(path, "trainer_state.json")):
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(run_dir: str) -> Optional[str]:
    found = list_checkpoints(run_dir)
    return found[-1][1] if found else None


_WEIGHTS_ONLY = int(torch.__version__.split(".")[0]) >= 2  # torch 1.13's restricted unpickler rejects floats


def torch_load(path: str, map_location: Any = "cpu") -> Any:
    """torch.load of files this worker wrote; restricted to tensors and plain data where torch can."""
    if _WEIGHTS_ONLY:
        return torch.load(path, map_location=map_location, weights_only=True)
    return torch.load(path, map_location=map_location)


def _is_fsdp2(module: torch.nn.Module) -> bool:
    """fully_shard swaps the module's class for a generated ``FSDP<Name>`` subclass."""
    return type(module).__name__.startswith("FSDP")


def _trainable_names(model: torch.nn.Module) -> List[str]:
    return [name for name, p in model.named_parameters() if p.requires_grad]


def model_state(wrapped: torch.nn.Module, state: DistributedState) -> Dict[str, torch.Tensor]:
    """Full (unsharded) trainable parameters on CPU. Collective under FSDP2: call on every rank."""
    model = unwrap(wrapped)
    names = set(_trainable_names(model))
    if state.active and _is_fsdp2(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        full = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return {k: v.detach().contiguous() for k, v in full.items() if k in names}
    return {name: p.detach().to("cpu").contiguous().clone()
            for name, p in model.named_parameters() if name in names}


def optimizer_state(wrapped: torch.nn.Module, optimizer: torch.optim.Optimizer, state: DistributedState) -> Dict[str, Any]:
    model = unwrap(wrapped)
    if state.active and _is_fsdp2(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

        return get_optimizer_state_dict(model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return optimizer.state_dict()


def save_weights(tensors: Dict[str, torch.Tensor], directory: str, metadata: Dict[str, str]) -> str:
    st = safetensors_torch()
    if st is not None:
        path = os.path.join(directory, "model.safetensors")
        st.save_file(tensors, path, metadata=metadata)
    else:
        path = os.path.join(directory, "model.pt")
        torch.save(tensors, path)
    return path


def load_weights(directory: str) -> Dict[str, torch.Tensor]:
    path = os.path.join(directory, "model.safetensors")
    if os.path.isfile(path):
        st = safetensors_torch()
        if st is None:
            raise TrainerError(f"{path} needs the safetensors package to load")
        return st.load_file(path, device="cpu")
    return torch_load(os.path.join(directory, "model.pt"))


def save_checkpoint(run_dir: str, *, step: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: Any, trainer_state: Dict[str, Any], config_dict: Dict[str, Any],
                    state: DistributedState, keep: Optional[int]) -> str:
    """Write a checkpoint (rank 0 writes; every rank must call). Returns its folder."""
    weights = model_state(model, state)
    optim = optimizer_state(model, optimizer, state)
    final = os.path.join(checkpoints_root(run_dir), f"step-{step:08d}")
    if state.is_main:
        tmp = final + ".tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        save_weights(weights, tmp, {"format": "pt", "step": str(step)})
        torch.save(optim, os.path.join(tmp, "optimizer.pt"))
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.stack([s for s in torch.cuda.get_rng_state_all()])
        torch.save(rng, os.path.join(tmp, "rng_state.pt"))
        version, internal, gauss = random.getstate()
        full_state = dict(trainer_state, step=step, format_version=FORMAT_VERSION,
                          scheduler=scheduler.state_dict(),
                          python_rng={"version": version, "state": list(internal), "gauss": gauss})
        with open(os.path.join(tmp, "trainer_state.json"), "w", encoding="utf-8") as handle:
            json.dump(full_state, handle, indent=1)
        with open(os.path.join(tmp, "config.json"), "w", encoding="utf-8") as handle:
            json.dump(config_dict, handle, indent=1)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        if keep:
            for _, old in list_checkpoints(run_dir)[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
    barrier(state)
    return final


def load_model_weights(wrapped: torch.nn.Module, directory: str, state: DistributedState) -> None:
    """Load a checkpoint's parameters into a (possibly wrapped) model; every trainable one must be there."""
    model = unwrap(wrapped)
    weights = load_weights(directory)
    expected = set(_trainable_names(model))
    missing = sorted(expected - set(weights))
    if missing:
        raise TrainerError(f"checkpoint {directory} lacks parameters {missing[:5]}... (model changed?)")
    if state.active and _is_fsdp2(model):
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        set_model_state_dict(model, weights, options=StateDictOptions(full_state_dict=True, strict=False))
        return
    unexpected = model.load_state_dict(weights, strict=False).unexpected_keys
    if unexpected:
        raise TrainerError(f"checkpoint {directory} has parameters the model lacks: {unexpected[:5]}")


def read_trainer_state(directory: str) -> Dict[str, Any]:
    with open(os.path.join(directory, "trainer_state.json"), "r", encoding="utf-8") as handle:
        return json.load(handle)


def load_checkpoint(directory: str, *, model: torch.nn.Module, optimizer: Optional[torch.optim.Optimizer],
                    scheduler: Any, state: DistributedState) -> Dict[str, Any]:
    """Restore model, optimizer, scheduler and RNG states; returns the trainer state dict."""
    trainer_state = read_trainer_state(directory)
    load_model_weights(model, directory, state)
    if optimizer is not None:
        optim = torch_load(os.path.join(directory, "optimizer.pt"))
        inner = unwrap(model)
        if state.active and _is_fsdp2(inner):
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            set_optimizer_state_dict(inner, optimizer, optim, options=StateDictOptions(full_state_dict=True))
        else:
            optimizer.load_state_dict(optim)
    if scheduler is not None:
        scheduler.load_state_dict(trainer_state["scheduler"])
    rng = torch_load(os.path.join(directory, "rng_state.pt"))
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(rng["cuda"]))
    py = trainer_state["python_rng"]
    random.setstate((py["version"], tuple(py["state"]), py["gauss"]))
    return trainer_state
