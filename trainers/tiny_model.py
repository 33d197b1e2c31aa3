"""A small decoder in pure torch (RMSNorm, RoPE, SwiGLU) for tests, demos and CPU runs.

``TinyDecoder.hidden_states`` returns the final-normed hidden states; ``lm_head`` (policy) or
``score_head`` (reward model) turns them into token logits or a scalar reward. Attention uses
``F.scaled_dot_product_attention`` when torch has it (>= 2.0) and an explicit softmax otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .compat import HAS_SDPA


@dataclass(frozen=True)
class TinyConfig:
    vocab_size: int = 259
    dim: int = 64
    n_layers: int = 2
    n_heads: int = 4
    hidden_dim: Optional[int] = None
    max_seq_len: int = 2048
    rope_theta: float = 10000.0
    norm_eps: float = 1e-6

    @property
    def ffn_dim(self) -> int:
        if self.hidden_dim:
            return self.hidden_dim
        return int(math.ceil(8 * self.dim / 3 / 8) * 8)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return (x * self.weight.float()).to(dtype)


def rope_tables(head_dim: int, length: int, theta: float, device) -> tuple:
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(length, device=device, dtype=torch.float32), inv_freq)
    emb = torch.cat([angles, angles], dim=-1)
    return emb.cos(), emb.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding, half-split convention (as Llama in transformers). x: [B, H, T, D]."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return (x.float() * cos + rotated.float() * sin).to(x.dtype)


class Attention(nn.Module):
    def __init__(self, config: TinyConfig):
        super().__init__()
        if config.dim % config.n_heads:
            raise ValueError("dim must be divisible by n_heads")
        self.n_heads = config.n_heads
        self.head_dim = config.dim // config.n_heads
        self.q_proj = nn.Linear(config.dim, config.dim, bias=False)
        self.k_proj = nn.Linear(config.dim, config.dim, bias=False)
        self.v_proj = nn.Linear(config.dim, config.dim, bias=False)
        self.o_proj = nn.Linear(config.dim, config.dim, bias=False)
        self.use_sdpa = True  # False: the explicit softmax path ("eager"), e.g. for benchmarks

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                mask: Optional[torch.Tensor]) -> torch.Tensor:
        b, t, _ = x.shape
        q, k, v = (proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
                   for proj in (self.q_proj, self.k_proj, self.v_proj))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if HAS_SDPA and self.use_sdpa:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
        else:
            # q scaled before the product, the mask applied in place: two [B, H, T, T] tensors fewer per layer
            # (matmul keeps its inputs for backward, not its output, so in place is safe under autograd)
            scores = (q * (1.0 / math.sqrt(self.head_dim))) @ k.transpose(-1, -2)
            allowed = mask if mask is not None else torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            scores.masked_fill_(~allowed, float("-inf"))
            out = torch.softmax(scores.float(), dim=-1).to(v.dtype) @ v
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))

    def forward_cached(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache: "KVCache",
                       layer: int) -> torch.Tensor:
        """Attention of ``t`` new positions (starting at ``cache.length``) over the cached keys and values plus
        their own; writes their keys and values into ``cache`` (layer ``layer``). No padding: every row of the
        batch has the same length (generation samples one prompt's rows together)."""
        b, t, _ = x.shape
        start = cache.length
        q, k, v = (proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
                   for proj in (self.q_proj, self.k_proj, self.v_proj))
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        cache.keys[layer][:, :, start:start + t] = k
        cache.values[layer][:, :, start:start + t] = v
        keys, values = cache.keys[layer][:, :, :start + t], cache.values[layer][:, :, :start + t]
        # query i (position start + i) sees keys 0..start + i; one new position sees them all
        allowed = None
        if t > 1:
            positions = torch.arange(start + t, device=x.device)
            allowed = positions[None, :] <= (start + torch.arange(t, device=x.device))[:, None]
        if HAS_SDPA and self.use_sdpa:
            out = F.scaled_dot_product_attention(q, keys, values, attn_mask=allowed)
        else:
            scores = (q * (1.0 / math.sqrt(self.head_dim))) @ keys.transpose(-1, -2)
            if allowed is not None:
                scores.masked_fill_(~allowed, float("-inf"))
            out = torch.softmax(scores.float(), dim=-1).to(values.dtype) @ values
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))


class KVCache:
    """Preallocated keys and values of every layer for ``batch`` rows of up to ``capacity`` positions, with the
    rotary tables for those positions; ``length`` positions are filled."""

    def __init__(self, config: TinyConfig, *, batch: int, capacity: int, device, dtype: torch.dtype):
        if capacity > config.max_seq_len:
            raise ValueError(f"a cache of {capacity} positions exceeds max_seq_len {config.max_seq_len}")
        head_dim = config.dim // config.n_heads
        shape = (batch, config.n_heads, capacity, head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(config.n_layers)]
        self.cos, self.sin = rope_tables(head_dim, capacity, config.rope_theta, device)
        self.capacity = capacity
        self.length = 0


class SwiGLU(nn.Module):
    def __init__(self, config: TinyConfig):
        super().__init__()
        self.gate_proj = nn.Linear(config.dim, config.ffn_dim, bias=False)
        self.up_proj = nn.Linear(config.dim, config.ffn_dim, bias=False)
        self.down_proj = nn.Linear(config.ffn_dim, config.dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, config: TinyConfig):
        super().__init__()
        self.attn_norm = RMSNorm(config.dim, config.norm_eps)
        self.attn = Attention(config)
        self.mlp_norm = RMSNorm(config.dim, config.norm_eps)
        self.mlp = SwiGLU(config)

    def forward(self, x, cos, sin, mask):
        x = x + self.attn(self.attn_norm(x), cos, sin, mask)
        return x + self.mlp(self.mlp_norm(x))

    def forward_cached(self, x, cos, sin, cache: KVCache, layer: int):
        x = x + self.attn.forward_cached(self.attn_norm(x), cos, sin, cache, layer)
        return x + self.mlp(self.mlp_norm(x))


def _right_padded(attention_mask: torch.Tensor) -> bool:
    """True when every row is ones then zeros (our collation), so causal masking suffices."""
    mask = attention_mask.bool()
    return bool((mask[:, 1:] <= mask[:, :-1]).all())


class TinyDecoder(nn.Module):
    """Decoder-only transformer; ``head`` is "lm" (token logits) or "score" (scalar reward)."""

    def __init__(self, config: TinyConfig, head: str = "lm"):
        super().__init__()
        if head not in ("lm", "score"):
            raise ValueError("head must be 'lm' or 'score'")
        self.tiny_config = config  # not `config`: peft treats a `config` attribute as an HF config
        self.head = head
        self.embed_tokens = nn.Embedding(config.vocab_size, config.dim)
        self.layers = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.dim, config.norm_eps)
        if head == "lm":
            self.lm_head = nn.Linear(config.dim, config.vocab_size, bias=False)
        else:
            self.score_head = nn.Linear(config.dim, 1, bias=False)
        self.gradient_checkpointing = False
        self.reset_parameters()

    def reset_parameters(self) -> None:
        std = 0.02
        for name, p in self.named_parameters():
            if p.dim() < 2:
                continue
            if name.endswith("score_head.weight"):
                nn.init.zeros_(p)  # reward 0 for every input at step 0
            elif name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, std=std / math.sqrt(2 * self.tiny_config.n_layers))
            else:
                nn.init.normal_(p, std=std)

    def hidden_states(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        b, t = input_ids.shape
        if t > self.tiny_config.max_seq_len:
            raise ValueError(f"sequence of {t} tokens exceeds max_seq_len {self.tiny_config.max_seq_len}")
        cos, sin = rope_tables(self.tiny_config.dim // self.tiny_config.n_heads, t, self.tiny_config.rope_theta, input_ids.device)
        mask = None
        if attention_mask is not None and not _right_padded(attention_mask):
            # left or inner padding: causal AND key-not-padding; a position always sees itself so no
            # row is empty. Right padding needs no mask: causal attention never lets a real token
            # see a later pad, and outputs at pad positions are never read (fast causal kernels)
            causal = torch.ones(t, t, dtype=torch.bool, device=input_ids.device).tril()
            keys = attention_mask.bool()[:, None, None, :]
            mask = (causal & keys) | torch.eye(t, dtype=torch.bool, device=input_ids.device)
        x = self.embed_tokens(input_ids)
        for layer in self.layers:
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(layer, x, cos, sin, mask, use_reentrant=False)
            else:
                x = layer(x, cos, sin, mask)
        return self.norm(x)

    def forward(self, input_ids: torch.Tensor, attention_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Token logits [B, T, V] (lm head) or per-position scores [B, T] (score head)."""
        h = self.hidden_states(input_ids, attention_mask)
        if self.head == "lm":
            return self.lm_head(h)
        return self.score_head(h).squeeze(-1)

    def new_cache(self, *, batch: int, capacity: int) -> KVCache:
        """An empty KV cache for ``batch`` rows of up to ``capacity`` positions (prompt + new tokens)."""
        weight = self.embed_tokens.weight
        return KVCache(self.tiny_config, batch=batch, capacity=capacity, device=weight.device, dtype=weight.dtype)

    def forward_cached(self, input_ids: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Token logits [B, t, V] of ``t`` new positions continuing the ones in ``cache`` (lm head only);
        the cache then holds them too. Equal to ``forward`` over the whole sequence, at O(t) cost per step."""
        if self.head != "lm":
            raise ValueError("forward_cached needs the lm head")
        t = input_ids.shape[1]
        start = cache.length
        if start + t > cache.capacity:
            raise ValueError(f"{start + t} positions exceed the cache's capacity of {cache.capacity}")
        cos, sin = cache.cos[start:start + t], cache.sin[start:start + t]
        x = self.embed_tokens(input_ids)
        for index, layer in enumerate(self.layers):
            x = layer.forward_cached(x, cos, sin, cache, index)
        cache.length = start + t
        return self.lm_head(self.norm(x))
