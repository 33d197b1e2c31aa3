"""Optional dependencies, imported once and guarded: the core needs nothing but torch.

torch 1.13 lacks ``F.scaled_dot_product_attention``, ``torch.compile`` and FSDP2; transformers,
peft and safetensors may be missing altogether. Import failures of any kind (some old torch
builds raise ValueError while importing FSDP) mean "not available".
"""

from __future__ import annotations

import importlib
from typing import Any, Optional

import torch
import torch.nn.functional as F


def optional_import(name: str) -> Optional[Any]:
    try:
        return importlib.import_module(name)
    except Exception:
        return None


HAS_SDPA = hasattr(F, "scaled_dot_product_attention")
HAS_COMPILE = hasattr(torch, "compile")


def transformers_module() -> Optional[Any]:
    return optional_import("transformers")


def peft_module() -> Optional[Any]:
    return optional_import("peft")


def safetensors_torch() -> Optional[Any]:
    return optional_import("safetensors.torch")


def fully_shard_fn() -> Optional[Any]:
    """FSDP2's ``fully_shard`` (torch >= 2.6 public path, 2.4-2.5 composable path), else None."""
    for module_name in ("torch.distributed.fsdp", "torch.distributed._composable.fsdp"):
        module = optional_import(module_name)
        fn = getattr(module, "fully_shard", None) if module is not None else None
        if fn is not None:
            return fn
    return None
