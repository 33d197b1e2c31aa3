"""Per-sequence log-probabilities of completion tokens.

``completion_logps`` takes the decoder's hidden states and the output layer and only ever builds
logits for completion positions, ``chunk_size`` tokens at a time (hidden -> logits -> logsumexp
-> gather). Under autograd each chunk is checkpointed, so backward recomputes one chunk's logits
at a time too: peak memory is O(chunk_size * vocab), not O(batch * length * vocab).
``completion_logps_from_logits`` is the naive reference on full logits.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .batching import IGNORE_INDEX


def upcast(x: torch.Tensor) -> torch.Tensor:
    """bf16/fp16 -> fp32 for the softmax; fp32 and fp64 stay as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _chunk_token_logps(hidden: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor,
                       bias: Optional[torch.Tensor]) -> torch.Tensor:
    logits = upcast(F.linear(hidden, weight, bias))
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)


def completion_logps(hidden: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor,
                     bias: Optional[torch.Tensor] = None, *, chunk_size: int = 1024) -> Tuple[torch.Tensor, torch.Tensor]:
    """Sum of log p(label_t | prefix) over completion tokens, and their count, per row.

    hidden: [B, T, H] states; position t predicts token t+1. labels: [B, T] with IGNORE_INDEX off
    the completion. Returns (logps [B] in fp32 or wider, counts [B] long).
    """
    shifted_labels = labels[:, 1:]
    selected = shifted_labels != IGNORE_INDEX
    counts = selected.sum(dim=1)
    rows = torch.arange(labels.shape[0], device=labels.device).unsqueeze(1).expand_as(shifted_labels)[selected]
    states = hidden[:, :-1][selected]
    targets = shifted_labels[selected]
    pieces = []
    needs_grad = torch.is_grad_enabled() and (states.requires_grad or weight.requires_grad)
    for start in range(0, states.shape[0], chunk_size):
        h, y = states[start: start + chunk_size], targets[start: start + chunk_size]
        if needs_grad:
            pieces.append(checkpoint(_chunk_token_logps, h, y, weight, bias, use_reentrant=False))
        else:
            pieces.append(_chunk_token_logps(h, y, weight, bias))
    dtype = upcast(hidden[:0]).dtype
    token_logps = torch.cat(pieces) if pieces else hidden.new_zeros(0, dtype=dtype)
    sums = torch.zeros(labels.shape[0], dtype=token_logps.dtype, device=hidden.device).index_add(0, rows, token_logps)
    return sums, counts


def completion_logps_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The naive version: full [B, T, V] logits -> log_softmax -> gather -> masked sum."""
    shifted_labels = labels[:, 1:]
    selected = shifted_labels != IGNORE_INDEX
    log_probs = torch.log_softmax(upcast(logits[:, :-1]), dim=-1)
    safe = shifted_labels.masked_fill(~selected, 0)
    token_logps = log_probs.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    return (token_logps * selected).sum(dim=1), selected.sum(dim=1)
