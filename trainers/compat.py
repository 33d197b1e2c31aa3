"""Optional dependencies, imported once and guarded: the core needs nothing but torch.

torch 1.13 lacks ``F.scaled_dot_product_attention``, ``torch.compile`` and FSDP2; transformers,
peft and safetensors may be missing altogether. Import failures of any kind (some old torch
builds raise ValueError while importing FSDP) mean "not available".

TF32: torch >= 2.9 adds ``torch.backends.cuda.matmul.fp32_precision`` beside the legacy
``allow_tf32`` flag, and *reading* ``allow_tf32`` raises a RuntimeError once the two disagree
(``Context::allowTF32CuBLAS`` in aten/src/ATen/Context.cpp: "you have used mix of the legacy and
new APIs"). The legacy setter keeps both in step (``setAllowTF32CuBLAS`` writes both), so we only
ever set through it and read defensively.
"""

from __future__ import annotations

import importlib
import contextlib
from typing import Any, Iterator, Optional

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


def _backend_attr(module: Any, name: str) -> Any:
    """``getattr`` that also treats torch 1.13's ``AssertionError("Unknown attribute")`` (raised by
    ``torch.backends.cuda.matmul.__getattr__``) and 2.9+'s mixed-API RuntimeError as "absent"."""
    try:
        return getattr(module, name)
    except Exception:
        return None


def tf32_matmul_state() -> Any:
    """Whether fp32 CUDA matmuls may use TF32: True/False, or the new API's string
    (``"tf32"``/``"ieee"``) when the legacy flag cannot be read; None when neither can."""
    matmul = torch.backends.cuda.matmul
    legacy = _backend_attr(matmul, "allow_tf32")
    if legacy is not None:
        return bool(legacy)
    return _backend_attr(matmul, "fp32_precision")


@contextlib.contextmanager
def tf32_disabled() -> Iterator[None]:
    """fp32 matmuls and cuDNN convolutions in full fp32 (no TF32) inside the block; the previous
    settings are restored after. Uses the legacy setters, which torch >= 2.9 maps onto both APIs,
    and the new ``fp32_precision = "ieee"`` only where a legacy setter is gone."""
    undo = [_disable_tf32(torch.backends.cuda.matmul, default=False),
            _disable_tf32(torch.backends.cudnn, default=True)]
    try:
        yield
    finally:
        for restore in reversed(undo):
            restore()


def _disable_tf32(module: Any, *, default: bool) -> Any:
    """Switch one backend's TF32 off; returns a function that switches it back."""
    before = _backend_attr(module, "allow_tf32")
    try:
        module.allow_tf32 = False
        restored = bool(before) if before is not None else default
        return lambda: setattr(module, "allow_tf32", restored)
    except Exception:
        pass
    precision = _backend_attr(module, "fp32_precision")
    if precision is None:  # neither API: nothing to switch
        return lambda: None
    module.fp32_precision = "ieee"
    return lambda: setattr(module, "fp32_precision", precision)


def fused_adamw_supported(params: Any) -> Optional[str]:
    """None when ``torch.optim.AdamW(fused=True)`` can step these parameters, else why not.

    torch >= 2.4 checks only at the first ``step()`` (``_device_dtype_check_for_fused`` in the
    optimizer's ``_init_group``), not in the constructor, so a try/except around the constructor
    cannot catch it: all parameters must be floating point on CUDA, and the constructor must take
    ``fused`` (torch >= 2.0).
    """
    import inspect

    try:
        if "fused" not in inspect.signature(torch.optim.AdamW.__init__).parameters:
            return f"torch {torch.__version__} AdamW has no fused kernel"
    except (TypeError, ValueError):
        pass
    params = list(params)
    if not params:
        return "no trainable parameters"
    for p in params:
        if p.device.type != "cuda":
            return f"a parameter is on {p.device.type}, not cuda"
        if not torch.is_floating_point(p):
            return f"a parameter has dtype {p.dtype}"
    return None
