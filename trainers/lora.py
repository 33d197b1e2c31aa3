"""A minimal built-in LoRA, used only when peft is not installed.

``apply_lora`` swaps the targeted ``nn.Linear`` modules for ``LoRALinear`` (frozen base weight,
trainable A and B with B = 0 at start, so the adapted model equals the base model at step 0) and
freezes everything else except ``trainable`` modules. ``adapters_disabled`` turns the adapters off:
the reference model for DPO at no extra memory.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator, Sequence

import torch
import torch.nn as nn


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad_(False)
        if self.base.bias is not None:
            self.base.bias.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=base.weight.dtype, device=base.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=base.weight.dtype, device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scaling = alpha / r
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.disabled = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)
        if self.disabled:
            return out
        return out + (self.dropout(x) @ self.lora_A.t() @ self.lora_B.t()) * self.scaling


def apply_lora(model: nn.Module, *, r: int, alpha: float, dropout: float,
               target_modules: Sequence[str], trainable: Sequence[str] = ()) -> int:
    """Adapt every Linear whose last name component is in ``target_modules``; returns how many."""
    for p in model.parameters():
        p.requires_grad_(False)
    targets = []
    for name, module in model.named_modules():
        for child_name, child in module.named_children():
            if isinstance(child, nn.Linear) and child_name in target_modules:
                targets.append((module, child_name, child))
    for parent, child_name, child in targets:
        setattr(parent, child_name, LoRALinear(child, r, alpha, dropout))
    for name, module in model.named_modules():
        if name.split(".")[-1] in trainable:
            for p in module.parameters():
                p.requires_grad_(True)
    return len(targets)


@contextmanager
def adapters_disabled(model: nn.Module) -> Iterator[None]:
    layers = [m for m in model.modules() if isinstance(m, LoRALinear)]
    for m in layers:
        m.disabled = True
    try:
        yield
    finally:
        for m in layers:
            m.disabled = False


def merge_builtin_lora(model: nn.Module) -> int:
    """Fold every adapter into its base weight (``W += scaling * B @ A``) and put the plain Linear back; returns how
    many. The model then computes what the adapted model computed, without adapters."""
    merged = 0
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoRALinear):
                with torch.no_grad():
                    child.base.weight += (child.lora_B @ child.lora_A * child.scaling).to(child.base.weight.dtype)
                setattr(module, child_name, child.base)
                merged += 1
    return merged


def has_builtin_lora(model: nn.Module) -> bool:
    return any(isinstance(m, LoRALinear) for m in model.modules())
