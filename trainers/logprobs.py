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


def _chunk_token_logps_and_mean_logits(hidden: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor,
                                       bias: Optional[torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    logits = upcast(F.linear(hidden, weight, bias))
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1), logits.detach().mean(dim=-1)


def completion_logps(hidden: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor,
                     bias: Optional[torch.Tensor] = None, *, chunk_size: int = 1024,
                     with_logits: bool = False) -> Tuple[torch.Tensor, ...]:
    """Sum of log p(label_t | prefix) over completion tokens, and their count, per row.

    hidden: [B, T, H] states; position t predicts token t+1. labels: [B, T] with IGNORE_INDEX off
    the completion. Returns (logps [B] in fp32 or wider, counts [B] long); ``with_logits`` adds the sum over completion
    tokens of the mean logit over the vocabulary [B] (detached; TRL's ``logits/chosen`` is its total over the count).
    """
    shifted_labels = labels[:, 1:]
    selected = shifted_labels != IGNORE_INDEX
    counts = selected.sum(dim=1)
    rows = torch.arange(labels.shape[0], device=labels.device).unsqueeze(1).expand_as(shifted_labels)[selected]
    states = hidden[:, :-1][selected]
    targets = shifted_labels[selected]
    pieces, mean_logits = [], []
    needs_grad = torch.is_grad_enabled() and (states.requires_grad or weight.requires_grad)
    chunk_fn = _chunk_token_logps_and_mean_logits if with_logits else _chunk_token_logps
    for start in range(0, states.shape[0], chunk_size):
        h, y = states[start: start + chunk_size], targets[start: start + chunk_size]
        out = checkpoint(chunk_fn, h, y, weight, bias, use_reentrant=False) if needs_grad else chunk_fn(h, y, weight, bias)
        if with_logits:
            pieces.append(out[0])
            mean_logits.append(out[1])
        else:
            pieces.append(out)
    dtype = upcast(hidden[:0]).dtype
    token_logps = torch.cat(pieces) if pieces else hidden.new_zeros(0, dtype=dtype)
    sums = torch.zeros(labels.shape[0], dtype=token_logps.dtype, device=hidden.device).index_add(0, rows, token_logps)
    if not with_logits:
        return sums, counts
    token_logits = torch.cat(mean_logits) if mean_logits else hidden.new_zeros(0, dtype=dtype)
    logit_sums = torch.zeros(labels.shape[0], dtype=token_logits.dtype, device=hidden.device).index_add(
        0, rows, token_logits)
    return sums, counts, logit_sums


def completion_logps_from_logits(logits: torch.Tensor, labels: torch.Tensor,
                                 with_logits: bool = False) -> Tuple[torch.Tensor, ...]:
    """The naive version: full [B, T, V] logits -> log_softmax -> gather -> masked sum."""
    shifted_labels = labels[:, 1:]
    selected = shifted_labels != IGNORE_INDEX
    log_probs = torch.log_softmax(upcast(logits[:, :-1]), dim=-1)
    safe = shifted_labels.masked_fill(~selected, 0)
    token_logps = log_probs.gather(-1, safe.unsqueeze(-1)).squeeze(-1)
    if not with_logits:
        return (token_logps * selected).sum(dim=1), selected.sum(dim=1)
    mean_logits = upcast(logits[:, :-1]).detach().mean(dim=-1)
    return (token_logps * selected).sum(dim=1), selected.sum(dim=1), (mean_logits * selected).sum(dim=1)
