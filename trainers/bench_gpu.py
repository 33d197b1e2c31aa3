"""GPU benchmark of DPO training (issue 5): a naive implementation against the optimised one, on a
Qwen2-0.5B-shaped model, plus a reward model trained on the real HH-RLHF file.

    python3 trainers/bench_gpu.py --out $OUT/bench_gpu.json            # one H100/H200, < 5 minutes
    python3 trainers/bench_gpu.py --smoke --device cpu --out /tmp/b.json # tiny shapes, CPU (tests)

Model: Qwen2-0.5B's shape (hidden 896, 24 layers, 14 heads, 2 KV heads, intermediate 4864, vocab
151936, RoPE theta 1e6, tied embeddings, RMSNorm eps 1e-6), randomly initialised from a config with
fixed seeds (nothing is downloaded): transformers' ``Qwen2ForCausalLM(Qwen2Config(...))`` when
transformers imports, else the pure-torch tiny decoder at that shape (multi-head attention: it has
no GQA). fp32 master weights; ``--smoke`` shrinks everything.

Data: seeded synthetic pairs of random token ids, prompts 64-448 tokens, completions 32-512. The
timed pairs are the same for every variant; warm-up steps use other pairs.

Variants (each a DPO step: forward(s), sigmoid loss with beta 0.1, backward, AdamW step):

* ``naive``: eager attention, every batch padded to the longest pair in the data set, separate
  chosen and rejected forwards, full-vocabulary ``log_softmax`` over [B, T, V] logits, a live
  reference model (a second copy in memory, run forward every step), fp32
* ``naive_bf16``: the same with bf16 autocast (separates what bf16 buys from the rest)
* ``optimised``: SDPA attention, length-bucketed batches padded to the batch's longest row, one
  concatenated chosen+rejected forward, chunked log-probs on completion tokens only
  (``trainers/logprobs.py``), reference log-probs precomputed once (timed separately), bf16 autocast
* ``optimised_grad_ckpt``: the same with gradient checkpointing

Per variant: median step time (CUDA-synchronised, after warm-up), non-pad tokens/s (prompt tokens
count in both the chosen and the rejected row, as the worker's ``tokens_per_s``), MFU (formulas in
the JSON under ``mfu_definition``), peak memory (``torch.cuda.max_memory_allocated``, reset per
variant). A correctness check compares the optimised loss and gradients with the naive ones on one
identical batch in fp32 (and, on CUDA, the bf16 optimised path with looser tolerances).

Then a reward model is trained with the worker itself (``engine.train``) on
``../shared/datasets/hh-rlhf-harmless-base-test.jsonl.gz`` with a 10 % held-out split; held-out
accuracy and ECE are reported. With random init, a byte tokenizer and a minute of training that
accuracy is a smoke figure, not a quality claim (the JSON says so).

Generation (issue 11): tokens/s of the worker's batched sampler (``trainers/generate.py``) on the same
Qwen2-0.5B-shaped model in bf16 (CUDA; fp32 elsewhere), ``--gen-batch`` samples (16) of one random
``--gen-prompt-tokens`` prompt (128) x ``--gen-new-tokens`` new tokens (128, no EOS), with the KV cache
and without it (the whole sequence through the model for every new token); the ratio is
``generation.kv_cache_speedup``.

A global deadline (``--deadline-s``, 270 s from start by default) skips whatever would overrun and
records what was skipped; the JSON is always written.
"""

from __future__ import annotations

import time

START = time.monotonic()

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import traceback  # noqa: E402
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple  # noqa: E402

if __package__ in (None, ""):  # run as a script: make the package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from trainers.batching import IGNORE_INDEX, BatchSchedule, Example, collate_pairs  # noqa: E402
from trainers.compat import (HAS_SDPA, fused_adamw_supported, tf32_disabled, tf32_matmul_state,  # noqa: E402
                             transformers_module)
from trainers.errors import is_out_of_memory  # noqa: E402
from trainers.losses import dpo_loss  # noqa: E402
from trainers.models import PreferenceModel, enable_gradient_checkpointing, frozen_copy  # noqa: E402
from trainers.tiny_model import Attention, TinyConfig, TinyDecoder  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HH_NAME = "hh-rlhf-harmless-base-test.jsonl.gz"
# ../shared beside the checkout; on a lent device machine it does not travel, so bench/gpu/README.md has
# the file copied into the git-ignored .bench-data/ of the checkout and carried there
HH_CANDIDATES = [os.path.join(REPO_ROOT, "..", "shared", "datasets", HH_NAME), os.path.join(REPO_ROOT, ".bench-data", HH_NAME)]
DEFAULT_HH = next((p for p in HH_CANDIDATES if os.path.isfile(p)), HH_CANDIDATES[0])

QWEN2_0_5B = {"vocab_size": 151936, "hidden_size": 896, "num_hidden_layers": 24, "num_attention_heads": 14,
              "num_key_value_heads": 2, "intermediate_size": 4864, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
              "tie_word_embeddings": True, "max_position_embeddings": 32768}
SMOKE_SHAPE = {**QWEN2_0_5B, "vocab_size": 320, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
               "num_key_value_heads": 2, "intermediate_size": 64, "max_position_embeddings": 256}
LENGTHS = {"prompt": (64, 448), "completion": (32, 512)}
SMOKE_LENGTHS = {"prompt": (6, 20), "completion": (3, 16)}

# dense bf16 tensor-core peaks (no sparsity), TFLOPS; the first matching substring of the device name wins
PEAK_BF16_TFLOPS: List[Tuple[str, float]] = [
    ("H100 PCIE", 756.0), ("H100 NVL", 835.0), ("GH200", 989.0), ("H200 NVL", 835.0), ("H200", 989.0),
    ("H100", 989.0), ("H800", 989.0), ("A100", 312.0), ("A800", 312.0), ("L40S", 362.0), ("L40", 181.0),
    ("L4", 121.0), ("A10G", 70.0),
]

MFU_DEFINITION = {
    "mfu": "6 * N_params * non_pad_tokens_per_s / peak_flops  (the standard 6N formula, no attention term; "
           "N_params counts the tied embedding once)",
    "mfu_with_attention": "(6 * N_params * T + 6 * n_layers * hidden * sum_rows(len^2)) / step_time / peak_flops, "
                          "summed over the timed steps; the attention term is causal QK^T and AV "
                          "(2 matmuls * 2 * len^2 * hidden / 2 forward, x3 for backward) over non-pad lengths",
    "mfu_needed": "like mfu_with_attention but the output layer counted only where DPO needs logits "
                  "(completion tokens): (6 * (N_params - V*hidden) * T + 6 * V * hidden * T_completion + attention) "
                  "/ step_time / peak_flops. The chunked path skips prompt-position logits, so 'mfu' credits it "
                  "with output-layer FLOPs it never runs; this figure does not",
    "not_counted": "reference-model forwards (the naive live reference, the optimised precompute), padding, "
                   "gradient-checkpointing recomputation and the optimizer step are overhead, not model FLOPs",
    "T": "non-pad tokens of the chosen and rejected rows (prompt tokens count once per row)",
}

ANCHORS = {"open_instruct_dpo_h100_mfu": "about 22-32 %", "goal_mfu": 0.40}

TOLERANCES = {
    "fp32": {"loss_rel": 1e-3, "logps_rel": 1e-4, "grad_cosine_min": 0.9999, "grad_norm_rel": 1e-3,
             "param_grad_cosine_min": 0.999},
    "bf16": {"loss_rel": 5e-2, "logps_rel": 1e-2, "grad_cosine_min": 0.98, "grad_norm_rel": 0.1,
             "param_grad_cosine_min": 0.95},
}

PAD_ID = 0
log = logging.getLogger("trainers.bench")


def elapsed() -> float:
    return time.monotonic() - START


# ------------------------------------------------------------------------------------------------
# arguments


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help="JSON report path (default: $OUT/bench_gpu.json when $OUT is set)")
    p.add_argument("--smoke", action="store_true", help="tiny shapes and a few steps: checks the code paths, measures nothing")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--model", default="auto", choices=("auto", "qwen2", "tiny"),
                   help="auto: transformers' Qwen2 when it imports, else the tiny decoder at the same shape")
    p.add_argument("--batch-pairs", type=int, default=None, help="pairs per step (default 8; smoke 2)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per variant (default 10; smoke 2)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps per variant (default 3; smoke 1)")
    p.add_argument("--chunk-size", type=int, default=1024, help="completion tokens per logits chunk (optimised)")
    p.add_argument("--beta", type=float, default=0.1)
    p.add_argument("--lr", type=float, default=1e-6)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--variants", default="naive,optimised,naive_bf16,optimised_grad_ckpt",
                   help="comma-separated, run in this order after the correctness check")
    p.add_argument("--peak-tflops", type=float, default=None, help="override the dense bf16 peak used for MFU")
    p.add_argument("--deadline-s", type=float, default=270.0, help="skip work that would end later than this (s from start)")
    p.add_argument("--hh", default=DEFAULT_HH, help="HH-RLHF pairs file for the reward-model run (default: "
                   "../shared/datasets/%s beside the checkout, else .bench-data/ in it)" % HH_NAME)
    p.add_argument("--rm-rows", type=int, default=None, help="rows of the HH file to read (default all; smoke 64)")
    p.add_argument("--rm-steps", type=int, default=None, help="reward-model optimizer steps (default 300; smoke 4)")
    p.add_argument("--rm-budget-s", type=float, default=60.0, help="wall-clock cap of the reward-model training")
    p.add_argument("--skip-rm", action="store_true")
    p.add_argument("--gen-batch", type=int, default=None, help="generation: samples drawn together (default 16; smoke 4)")
    p.add_argument("--gen-new-tokens", type=int, default=None, help="generation: new tokens per sample (default 128; smoke 6)")
    p.add_argument("--gen-prompt-tokens", type=int, default=None, help="generation: prompt tokens (default 128; smoke 8)")
    p.add_argument("--gen-repeats", type=int, default=None, help="generation: timed runs per path (default 2; smoke 1)")
    p.add_argument("--skip-generation", action="store_true")
    args = p.parse_args(argv)
    unknown = [v for v in args.variants.split(",") if v and v not in VARIANTS]
    if unknown:  # before any device time is spent
        p.error(f"unknown variants {unknown}; known: {sorted(VARIANTS)}")
    if args.out is None:
        if not os.environ.get("OUT"):
            p.error("--out is required when $OUT is not set")
        args.out = os.path.join(os.environ["OUT"], "bench_gpu.json")
    defaults = {"batch_pairs": (8, 2), "steps": (10, 2), "warmup": (3, 1), "rm_rows": (None, 64), "rm_steps": (300, 4),
                "gen_batch": (16, 4), "gen_new_tokens": (128, 6), "gen_prompt_tokens": (128, 8), "gen_repeats": (2, 1)}
    for name, (full, smoke) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else full)
    if args.smoke:
        args.chunk_size = min(args.chunk_size, 7)  # several chunks even on tiny batches
    for name in ("gen_batch", "gen_new_tokens", "gen_prompt_tokens", "gen_repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    args.shape = dict(SMOKE_SHAPE if args.smoke else QWEN2_0_5B)
    args.lengths = SMOKE_LENGTHS if args.smoke else LENGTHS
    return args


# ------------------------------------------------------------------------------------------------
# device helpers


def peak_tflops_for(device_name: Optional[str]) -> Optional[float]:
    """Dense bf16 peak of a known accelerator by its name, else None."""
    if not device_name:
        return None
    name = device_name.upper()
    for key, value in PEAK_BF16_TFLOPS:
        if key in name:
            return value
    return None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> Optional[int]:
    return int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None


def autocast_for(bf16: bool, device: torch.device) -> Callable[[], Any]:
    if bf16 and device.type == "cuda":
        return lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def building_on(device: torch.device) -> Any:
    """Initialise parameters directly on the device where torch can (>= 2.0): much faster than on the CPU."""
    if device.type != "cpu" and hasattr(torch.device, "__enter__"):
        return device
    return contextlib.nullcontext()


# ------------------------------------------------------------------------------------------------
# model


def resolve_kind(args: argparse.Namespace) -> str:
    if args.model != "auto":
        return args.model
    return "qwen2" if transformers_module() is not None else "tiny"


def build_policy(args: argparse.Namespace, device: torch.device, kind: str, attn: str) -> Tuple[PreferenceModel, Dict[str, Any]]:
    """A freshly seeded fp32 policy with eager or SDPA attention; identical weights for a given seed."""
    shape = args.shape
    torch.manual_seed(args.seed)
    info: Dict[str, Any] = {"requested_attention": attn}
    if kind == "qwen2":
        transformers = transformers_module()
        if transformers is None:
            raise RuntimeError("--model qwen2 needs transformers")
        try:
            config = transformers.Qwen2Config(**shape, attn_implementation=attn, pad_token_id=PAD_ID)
        except TypeError:
            config = transformers.Qwen2Config(**shape, pad_token_id=PAD_ID)
        if getattr(config, "_attn_implementation", None) != attn:
            with contextlib.suppress(Exception):
                config._attn_implementation = attn
        with building_on(device):
            core = transformers.Qwen2ForCausalLM(config)
        if getattr(core.config, "_attn_implementation", None) != attn and hasattr(core, "set_attn_implementation"):
            core.set_attn_implementation(attn)
        core = core.to(device=device, dtype=torch.float32)
        info["attention"] = getattr(core.config, "_attn_implementation", None)
        info["rope"] = getattr(core.config, "rope_parameters", None) or getattr(core.config, "rope_theta", None)
        info["tied_embeddings"] = core.get_input_embeddings().weight is core.get_output_embeddings().weight
        info["family"] = "hf"
        model = PreferenceModel(core, head="lm", family="hf", chunk_size=args.chunk_size)
    else:
        head_dim = shape["hidden_size"] // shape["num_attention_heads"]
        if head_dim % 2:
            raise ValueError("hidden_size / num_attention_heads must be even")
        config = TinyConfig(vocab_size=shape["vocab_size"], dim=shape["hidden_size"], n_layers=shape["num_hidden_layers"],
                            n_heads=shape["num_attention_heads"], hidden_dim=shape["intermediate_size"],
                            max_seq_len=max(2048, sum(r[1] for r in args.lengths.values()) * 2),
                            rope_theta=shape["rope_theta"], norm_eps=shape["rms_norm_eps"])
        with building_on(device):
            core = TinyDecoder(config, head="lm")
        core.lm_head.weight = core.embed_tokens.weight  # tied, as Qwen2-0.5B
        core = core.to(device)
        for module in core.modules():
            if isinstance(module, Attention):
                module.use_sdpa = attn == "sdpa"
        info["attention"] = "sdpa" if (attn == "sdpa" and HAS_SDPA) else "eager"
        info["family"] = "tiny"
        info["notes"] = "tiny decoder: multi-head attention (no GQA: 14 KV heads, not 2), no q/k/v biases"
        model = PreferenceModel(core, head="lm", family="tiny", chunk_size=args.chunk_size)
    info["parameters"] = sum(p.numel() for p in model.parameters())
    return model, info


# ------------------------------------------------------------------------------------------------
# data


def synthetic_pairs(n: int, args: argparse.Namespace, seed: int, start_index: int = 0) -> List[Example]:
    """Seeded random pairs: prompt and completion lengths uniform in their ranges, random token ids."""
    rng = random.Random(f"bench-pairs:{seed}")
    vocab = args.shape["vocab_size"]
    (p_lo, p_hi), (c_lo, c_hi) = args.lengths["prompt"], args.lengths["completion"]
    out = []
    for i in range(n):
        lp, lc, lr = rng.randint(p_lo, p_hi), rng.randint(c_lo, c_hi), rng.randint(c_lo, c_hi)
        ids = [rng.randrange(1, vocab) for _ in range(lp + lc + lr)]
        out.append(Example(index=start_index + i, prompt_ids=ids[:lp], chosen_ids=ids[lp: lp + lc],
                           rejected_ids=ids[lp + lc:], margin=0.0, chosen_tokens=lc, rejected_tokens=lr))
    return out


def pad_block(block: Dict[str, torch.Tensor], width: int) -> Dict[str, torch.Tensor]:
    """Right-pad a collated block to ``width`` columns (the naive 'pad to the data set's max')."""
    extra = width - block["input_ids"].shape[1]
    if extra <= 0:
        return block
    return {"input_ids": F.pad(block["input_ids"], (0, extra), value=PAD_ID),
            "attention_mask": F.pad(block["attention_mask"], (0, extra), value=0),
            "labels": F.pad(block["labels"], (0, extra), value=IGNORE_INDEX)}


def bucketed_batches(examples: Sequence[Example], batch_pairs: int, seed: int) -> List[List[Example]]:
    """The worker's length bucketing (``BatchSchedule``) with one window over all the given pairs."""
    schedule = BatchSchedule([e.length for e in examples], batch_pairs, seed=seed, bucketing=True,
                             bucket_multiplier=max(1, -(-len(examples) // batch_pairs)))
    return [[examples[i] for i in batch] for batch in schedule.epoch_batches(0)]


def in_order_batches(examples: Sequence[Example], batch_pairs: int) -> List[List[Example]]:
    return [list(examples[j: j + batch_pairs]) for j in range(0, len(examples), batch_pairs)]


def block_stats(blocks: Sequence[Dict[str, torch.Tensor]]) -> Dict[str, int]:
    """Non-pad tokens, completion (label) tokens, sum of squared row lengths, and padded positions."""
    tokens = completion = squares = positions = 0
    for block in blocks:
        lengths = block["attention_mask"].sum(dim=1)
        tokens += int(lengths.sum())
        squares += int((lengths * lengths).sum())
        completion += int((block["labels"][:, 1:] != IGNORE_INDEX).sum())
        positions += int(block["attention_mask"].numel())
    return {"tokens": tokens, "completion_tokens": completion, "sum_len_sq": squares, "positions": positions}


def to_device(block: Dict[str, torch.Tensor], device: torch.device) -> Dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in block.items()}


# ------------------------------------------------------------------------------------------------
# the two implementations of one DPO loss


def naive_loss(policy: PreferenceModel, ref: PreferenceModel, examples: Sequence[Example], width: int,
               device: torch.device, beta: float) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """Separate forwards padded to ``width``, full-vocabulary log_softmax, live reference."""
    batch = collate_pairs(examples, PAD_ID, concatenated=False)
    chosen = to_device(pad_block(batch["chosen"], width), device)
    rejected = to_device(pad_block(batch["rejected"], width), device)
    policy.chunked = ref.chunked = False
    pc, _ = policy(**chosen)
    pr, _ = policy(**rejected)
    with torch.no_grad():
        rc, _ = ref(**chosen)
        rr, _ = ref(**rejected)
    loss = dpo_loss(pc, pr, rc.to(pc.dtype), rr.to(pr.dtype), beta=beta)[0].mean()
    return loss, {"blocks": [chosen, rejected], "logps": torch.cat([pc, pr]).detach()}


def optimised_loss(policy: PreferenceModel, ref_table: Dict[int, Tuple[float, float]], examples: Sequence[Example],
                   device: torch.device, beta: float) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """One concatenated forward padded to the batch's longest row, chunked completion log-probs,
    precomputed reference log-probs."""
    batch = collate_pairs(examples, PAD_ID, concatenated=True)
    block = to_device(batch["concatenated"], device)
    policy.chunked = True
    logps, _ = policy(**block)
    n = len(examples)
    pc, pr = logps[:n], logps[n:]
    ref = torch.tensor([ref_table[e.index] for e in examples], dtype=pc.dtype, device=device)
    loss = dpo_loss(pc, pr, ref[:, 0], ref[:, 1], beta=beta)[0].mean()
    return loss, {"blocks": [block], "logps": logps.detach()}


def precompute_reference(model: PreferenceModel, examples: Sequence[Example], batch_pairs: int,
                         device: torch.device, bf16: bool) -> Dict[int, Tuple[float, float]]:
    """Reference log-probs of every pair, once, with the optimised forward (no grad)."""
    table: Dict[int, Tuple[float, float]] = {}
    was_training = model.training
    model.eval()
    model.chunked = True
    ordered = sorted(examples, key=lambda e: -e.length)
    with torch.no_grad(), autocast_for(bf16, device)():
        for batch_examples in in_order_batches(ordered, batch_pairs * 2):
            batch = collate_pairs(batch_examples, PAD_ID, concatenated=True)
            logps, _ = model(**to_device(batch["concatenated"], device))
            values = logps.double().cpu().tolist()
            n = len(batch_examples)
            for i, e in enumerate(batch_examples):
                table[e.index] = (values[i], values[n + i])
    model.train(was_training)
    return table


# ------------------------------------------------------------------------------------------------
# correctness: optimised vs naive on one identical batch


def _flat_grads(model: torch.nn.Module) -> Tuple[torch.Tensor, List[Tuple[str, torch.Tensor]]]:
    named = [(n, p.grad.detach().double().flatten() if p.grad is not None else torch.zeros(p.numel(), dtype=torch.float64, device=p.device))
             for n, p in model.named_parameters()]
    return torch.cat([g for _, g in named]), named


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    denominator = float(a.norm() * b.norm())
    return float(a @ b) / denominator if denominator > 0 else (1.0 if float((a - b).abs().max()) == 0 else 0.0)


def compare_grads(naive: torch.nn.Module, optimised: torch.nn.Module) -> Dict[str, Any]:
    g_naive, named_naive = _flat_grads(naive)
    g_opt, named_opt = _flat_grads(optimised)
    names = [n for n, _ in named_naive]
    picks = sorted({0, len(names) - 1,
                    next((i for i, n in enumerate(names) if "q_proj" in n), 0),
                    max((i for i, n in enumerate(names) if "down_proj" in n), default=0)})
    per_param = {}
    for i in picks:
        (name, a), (_, b) = named_naive[i], named_opt[i]
        per_param[name] = {"cosine": _cosine(a, b),
                           "max_abs_diff_over_max_abs": float((a - b).abs().max() / a.abs().max().clamp(min=1e-30)),
                           "norm_naive": float(a.norm()), "norm_optimised": float(b.norm())}
    return {"grad_cosine": _cosine(g_naive, g_opt),
            "grad_norm_naive": float(g_naive.norm()), "grad_norm_optimised": float(g_opt.norm()),
            "grad_norm_rel_diff": float((g_naive.norm() - g_opt.norm()).abs() / g_naive.norm().clamp(min=1e-30)),
            "grad_max_abs_diff_over_max_abs": float((g_naive - g_opt).abs().max() / g_naive.abs().max().clamp(min=1e-30)),
            "parameters": per_param}


def correctness_check(args: argparse.Namespace, device: torch.device, kind: str, examples: Sequence[Example],
                      width: int) -> Dict[str, Any]:
    """Naive (eager, padded to the data set's max, separate, full logits, live reference) and optimised
    (SDPA, batch padding, concatenated, chunked, precomputed reference) losses and gradients on the same
    weights and batch. The policy is its reference plus a small seeded perturbation, so the DPO margin
    is not zero. fp32 with TF32 off; on CUDA also the bf16-autocast optimised path."""
    with tf32_disabled():
        naive, info_naive = build_policy(args, device, kind, "eager")
        opt, info_opt = build_policy(args, device, kind, "sdpa")
        opt.load_state_dict(naive.state_dict())
        ref_naive, ref_opt = frozen_copy(naive), frozen_copy(opt)
        g = torch.Generator(device=device).manual_seed(args.seed + 7)
        with torch.no_grad():
            for pn, po in zip(naive.parameters(), opt.parameters()):
                noise = torch.randn(pn.shape, generator=g, device=device, dtype=pn.dtype) * 5e-4
                pn.add_(noise)
                po.add_(noise)
        naive.train()
        opt.train()
        ref_table = precompute_reference(ref_opt, examples, len(examples), device, bf16=False)
        loss_naive, out_naive = naive_loss(naive, ref_naive, examples, width, device, args.beta)
        loss_naive.backward()
        loss_opt, out_opt = optimised_loss(opt, ref_table, examples, device, args.beta)
        loss_opt.backward()
        n = len(examples)
        logps_naive, logps_opt = out_naive["logps"].double(), out_opt["logps"].double()
        result: Dict[str, Any] = {
            "batch_pairs": n, "naive_width": width, "attention": {"naive": info_naive["attention"], "optimised": info_opt["attention"]},
            "fp32": {"loss_naive": float(loss_naive), "loss_optimised": float(loss_opt),
                     "loss_rel_diff": abs(float(loss_naive) - float(loss_opt)) / max(abs(float(loss_naive)), 1e-12),
                     "logps_rel_diff": float(((logps_naive - logps_opt).abs() / logps_naive.abs().clamp(min=1e-12)).max()),
                     "dpo_margin_naive": float(((logps_naive[:n] - logps_naive[n:])
                                                - torch.tensor([ref_table[e.index][0] - ref_table[e.index][1] for e in examples],
                                                               dtype=torch.float64, device=logps_naive.device)).abs().mean()),
                     **compare_grads(naive, opt)},
        }
        result["fp32"]["pass"] = _passes(result["fp32"], TOLERANCES["fp32"])
        if device.type == "cuda":
            opt.zero_grad(set_to_none=True)
            with autocast_for(True, device)():
                loss_bf16, out_bf16 = optimised_loss(opt, ref_table, examples, device, args.beta)
            loss_bf16.backward()
            logps_bf16 = out_bf16["logps"].double()
            result["bf16_optimised_vs_fp32_naive"] = {
                "loss_naive": float(loss_naive), "loss_optimised": float(loss_bf16),
                "loss_rel_diff": abs(float(loss_naive) - float(loss_bf16)) / max(abs(float(loss_naive)), 1e-12),
                "logps_rel_diff": float(((logps_naive - logps_bf16).abs() / logps_naive.abs().clamp(min=1e-12)).max()),
                **compare_grads(naive, opt)}
            result["bf16_optimised_vs_fp32_naive"]["pass"] = _passes(result["bf16_optimised_vs_fp32_naive"], TOLERANCES["bf16"])
        else:
            result["bf16_optimised_vs_fp32_naive"] = {"skipped": "bf16 autocast is checked on CUDA only"}
        result["tolerances"] = TOLERANCES
        result["pass"] = result["fp32"]["pass"]
        del naive, opt, ref_naive, ref_opt
        return result


def _passes(numbers: Dict[str, Any], tol: Dict[str, float]) -> bool:
    return (numbers["loss_rel_diff"] <= tol["loss_rel"] and numbers["logps_rel_diff"] <= tol["logps_rel"]
            and numbers["grad_cosine"] >= tol["grad_cosine_min"] and numbers["grad_norm_rel_diff"] <= tol["grad_norm_rel"]
            and all(p["cosine"] >= tol["param_grad_cosine_min"] for p in numbers["parameters"].values()))


# ------------------------------------------------------------------------------------------------
# timed variants

VARIANTS: Dict[str, Dict[str, Any]] = {
    "naive": {"attention": "eager", "padding": "dataset_max", "forward": "separate", "log_probs": "full_vocab_log_softmax",
              "reference": "live_model", "bf16_autocast": False, "gradient_checkpointing": False, "fused_adamw": False},
    "naive_bf16": {"attention": "eager", "padding": "dataset_max", "forward": "separate", "log_probs": "full_vocab_log_softmax",
                   "reference": "live_model", "bf16_autocast": True, "gradient_checkpointing": False, "fused_adamw": False},
    "optimised": {"attention": "sdpa", "padding": "length_bucketed_batch_max", "forward": "concatenated",
                  "log_probs": "chunked_completion_only", "reference": "precomputed", "bf16_autocast": True,
                  "gradient_checkpointing": False, "fused_adamw": True},
    "optimised_grad_ckpt": {"attention": "sdpa", "padding": "length_bucketed_batch_max", "forward": "concatenated",
                            "log_probs": "chunked_completion_only", "reference": "precomputed", "bf16_autocast": True,
                            "gradient_checkpointing": True, "fused_adamw": True},
}


def _adamw(model: torch.nn.Module, lr: float, fused: bool) -> Tuple[torch.optim.Optimizer, Any]:
    """AdamW, fused when asked and possible; returns it and True, or False / why not fused.

    The fused kernel's requirements (CUDA, floating point) are checked here because torch >= 2.4
    checks them only at the first ``step()``, inside the timed loop (``compat.fused_adamw_supported``)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if fused:
        reason = fused_adamw_supported(params)
        if reason is None:
            return torch.optim.AdamW(params, lr=lr, fused=True), True
        return torch.optim.AdamW(params, lr=lr), f"not fused: {reason}"
    return torch.optim.AdamW(params, lr=lr), False


def mfu_numbers(n_params: int, vocab_x_hidden: int, n_layers: int, hidden: int, stats: Dict[str, int],
                seconds: float, peak_flops: Optional[float]) -> Dict[str, Optional[float]]:
    """Model FLOPs of the timed steps (see MFU_DEFINITION) and their utilisation of ``peak_flops``."""
    attention = 6.0 * n_layers * hidden * stats["sum_len_sq"]
    flops = {"mfu": 6.0 * n_params * stats["tokens"],
             "mfu_with_attention": 6.0 * n_params * stats["tokens"] + attention,
             "mfu_needed": 6.0 * (n_params - vocab_x_hidden) * stats["tokens"]
             + 6.0 * vocab_x_hidden * stats["completion_tokens"] + attention}
    names = {"mfu": "model_tflops_per_s", "mfu_with_attention": "model_tflops_per_s_with_attention",
             "mfu_needed": "model_tflops_per_s_needed"}
    out: Dict[str, Optional[float]] = {names[k]: (v / seconds / 1e12 if seconds else None) for k, v in flops.items()}
    for k, v in flops.items():
        out[k] = (v / seconds / peak_flops) if (peak_flops and seconds) else None
    return out


class Deadline:
    def __init__(self, seconds: float):
        self.seconds = seconds

    def left(self) -> float:
        return self.seconds - elapsed()


def run_variant(name: str, args: argparse.Namespace, device: torch.device, kind: str, warm_pairs: List[Example],
                timed_pairs: List[Example], width: int, peak_flops: Optional[float], deadline: Deadline) -> Dict[str, Any]:
    spec = VARIANTS[name]
    result: Dict[str, Any] = {"name": name, "switches": dict(spec)}
    if spec["bf16_autocast"] and device.type != "cuda":
        result["switches"]["bf16_autocast"] = "skipped off CUDA (fp32)"
    attempts = []
    batch_pairs = args.batch_pairs
    while batch_pairs >= 1:
        try:
            result.update(_time_variant(spec, args, device, kind, warm_pairs, timed_pairs, width, batch_pairs,
                                        peak_flops, deadline))
            result["batch_pairs"] = batch_pairs
            break
        except Exception as error:  # an OOM halves the batch; anything else propagates
            if not is_out_of_memory(error):
                raise
            attempts.append({"batch_pairs": batch_pairs, "error": str(error).splitlines()[0][:300]})
        reset_memory(device)  # outside the except block: its traceback no longer pins the tensors
        batch_pairs //= 2
    if attempts:
        result["oom_attempts"] = attempts
        if "batch_pairs" not in result:
            result["oom"] = True
    return result


def _time_variant(spec, args, device, kind, warm_pairs, timed_pairs, width, batch_pairs, peak_flops, deadline) -> Dict[str, Any]:
    reset_memory(device)
    bf16 = spec["bf16_autocast"] and device.type == "cuda"
    policy = ref = optimizer = None
    try:
        build_start = time.perf_counter()
        policy, info = build_policy(args, device, kind, spec["attention"])
        if spec["gradient_checkpointing"]:
            enable_gradient_checkpointing(policy)
        out: Dict[str, Any] = {"attention": info["attention"], "parameters": info["parameters"],
                               "model_checks": {k: info[k] for k in ("rope", "tied_embeddings", "notes") if k in info},
                               "memory_allocated_after_build_bytes": int(torch.cuda.memory_allocated(device))
                               if device.type == "cuda" else None}
        naive = spec["reference"] == "live_model"
        ref_table: Dict[int, Tuple[float, float]] = {}
        if naive:
            ref = frozen_copy(policy)
            warm = in_order_batches(warm_pairs, batch_pairs)
            timed = in_order_batches(timed_pairs, batch_pairs)
        else:
            sync(device)
            t0 = time.perf_counter()
            ref_table = precompute_reference(policy, warm_pairs + timed_pairs, batch_pairs, device, bf16)
            sync(device)
            out["ref_precompute_s"] = time.perf_counter() - t0
            out["ref_precompute_pairs"] = len(ref_table)
            warm = bucketed_batches(warm_pairs, batch_pairs, args.seed)
            timed = bucketed_batches(timed_pairs, batch_pairs, args.seed + 1)
        out["build_s"] = time.perf_counter() - build_start
        policy.train()
        optimizer, fused = _adamw(policy, args.lr, spec["fused_adamw"])
        out["fused_adamw"] = fused
        autocast = autocast_for(bf16, device)
        times: List[float] = []
        losses: List[float] = []
        totals = {"tokens": 0, "completion_tokens": 0, "sum_len_sq": 0, "positions": 0}
        stopped = None
        for step, examples in enumerate(warm + timed):
            if deadline.left() < 5 and step > len(warm):
                stopped = f"deadline after {len(times)} timed steps"
                break
            sync(device)
            t0 = time.perf_counter()
            with autocast():
                if naive:
                    loss, extra = naive_loss(policy, ref, examples, width, device, args.beta)
                else:
                    loss, extra = optimised_loss(policy, ref_table, examples, device, args.beta)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            sync(device)
            dt = time.perf_counter() - t0
            losses.append(float(loss))
            if step >= len(warm):
                times.append(dt)
                for k, v in block_stats(extra["blocks"]).items():
                    totals[k] += v
        total_time = sum(times)
        shape = args.shape
        out.update({
            "warmup_steps": len(warm), "timed_steps": len(times), "stopped": stopped,
            "step_time_s": {"median": statistics.median(times) if times else None, "mean": total_time / len(times) if times else None,
                            "min": min(times) if times else None, "max": max(times) if times else None},
            "non_pad_tokens_per_s": totals["tokens"] / total_time if total_time else None,
            "non_pad_tokens_per_step": totals["tokens"] / len(times) if times else None,
            "padding_fraction": 1 - totals["tokens"] / totals["positions"] if totals["positions"] else None,
            "timed_totals": totals,
            "peak_memory_bytes": peak_memory(device),
            "losses": losses,
        })
        if out["peak_memory_bytes"] is not None:
            out["peak_memory_gib"] = out["peak_memory_bytes"] / 2 ** 30
        out.update(mfu_numbers(info["parameters"], shape["vocab_size"] * shape["hidden_size"], shape["num_hidden_layers"],
                               shape["hidden_size"], totals, total_time, peak_flops))
        return out
    finally:
        del policy, ref, optimizer
        if device.type == "cuda":
            torch.cuda.empty_cache()


# ------------------------------------------------------------------------------------------------
# reward model on HH-RLHF, through the worker itself


def reward_model_config(args: argparse.Namespace, run_dir: str, device: torch.device, kind: str) -> Dict[str, Any]:
    smoke = args.smoke
    if kind == "qwen2":
        model: Dict[str, Any] = {"kind": "hf", "hf_config": {
            "model_type": "qwen2", "hidden_size": 32 if smoke else 256, "num_hidden_layers": 2 if smoke else 4,
            "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 64 if smoke else 704,
            "vocab_size": 259, "max_position_embeddings": 1024, "rope_theta": 1000000.0, "rms_norm_eps": 1e-6,
            "tie_word_embeddings": True, "pad_token_id": 256}}
    else:
        model = {"kind": "tiny", "tiny": {"dim": 32 if smoke else 256, "n_layers": 2 if smoke else 4, "n_heads": 4,
                                          "max_seq_len": 1024}}
    return {
        "run_dir": run_dir, "seed": args.seed, "device": device.type, "resume": "never",
        "data": {"train": os.path.abspath(args.hh), "eval_fraction": 0.1, "max_rows": args.rm_rows,
                 "max_length": 128 if smoke else 512, "max_prompt_length": 96 if smoke else 384,
                 # every pair kept, every reward read at the answer's EOS: the pair count does not depend on lengths
                 "truncation": "keep_end"},
        "model": model, "tokenizer": {"kind": "byte"},
        "training": {"batch_size": 8 if smoke else 32, "learning_rate": 1e-3, "max_steps": args.rm_steps,
                     "warmup_ratio": 0.05, "logging_steps": 1 if smoke else 25, "save_steps": None,
                     "save_total_limit": 1, "weight_decay": 0.01},
        "eval": {"batch_size": 64, "at_end": True},
    }


def run_reward_model(args: argparse.Namespace, device: torch.device, kind: str, deadline: Deadline) -> Dict[str, Any]:
    from trainers import engine
    from trainers.config import parse_config
    from trainers.protocol import EventStream

    result: Dict[str, Any] = {"file": os.path.abspath(args.hh)}
    if not os.path.isfile(args.hh):
        return {**result, "skipped": "file not found"}
    budget = min(args.rm_budget_s, deadline.left() - 20)
    if budget < (1 if args.smoke else 10):
        return {**result, "skipped": f"deadline: {deadline.left():.0f} s left"}
    run_dir = tempfile.mkdtemp(prefix="bench-rm-")
    config = reward_model_config(args, run_dir, device, kind)
    result.update(model=config["model"], tokenizer="byte (UTF-8 bytes + pad/bos/eos; no downloads)",
                  training=config["training"], max_length=config["data"]["max_length"],
                  note="random init, byte tokenizer and at most about a minute of training: the held-out "
                       "accuracy is a smoke figure for the pipeline, not a claim about reward-model quality")
    # the training stops at its budget through the worker's own SIGTERM path (checkpoint, 'done: stopped')
    fired = threading.Event()

    def stop() -> None:
        fired.set()
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, lambda *_: None)  # a late timer must not kill the process
    timer = threading.Timer(budget, stop)
    timer.daemon = True
    start = time.perf_counter()
    try:
        parsed = parse_config(config, base_dir=run_dir, task="rm")
        events = EventStream(None)
        timer.start()
        try:
            code = engine.train(parsed, events, task="rm")
        finally:
            timer.cancel()
        events.close()
        history = events.history
        done = next((e for e in reversed(history) if e["type"] == "done"), {})
        start_event = next((e for e in history if e["type"] == "start"), {})
        metrics = [e for e in history if e["type"] == "metric"]
        evals = [e for e in history if e["type"] == "eval"]
        external_stop = done.get("status") == "stopped" and not fired.is_set()
        if done.get("status") == "stopped" and done.get("checkpoint") and not external_stop:
            eval_events = EventStream(None)
            engine.run_eval(parsed, eval_events, checkpoint=done["checkpoint"])
            evals += [e for e in eval_events.history if e["type"] == "eval"]
        final = evals[-1]["metrics"] if evals else {}
        result.update({
            "exit_code": code, "status": done.get("status"), "stopped_by_budget": fired.is_set(),
            "stopped_by_signal": external_stop,
            "budget_s": budget, "wall_s": time.perf_counter() - start,
            "steps": done.get("step"), "epochs": done.get("epoch"),
            "train_pairs": start_event.get("data", {}).get("train_pairs"),
            "eval_pairs": start_event.get("data", {}).get("eval_pairs"),
            "truncated_train_pairs": start_event.get("data", {}).get("truncated"),
            "truncation": start_event.get("data", {}).get("truncation"),
            "parameters": start_event.get("model", {}).get("parameters"),
            "bf16": start_event.get("efficiency", {}).get("bf16"),
            "train_loss_first": metrics[0]["loss"] if metrics else None,
            "train_loss_last": metrics[-1]["loss"] if metrics else None,
            "train_accuracy_last": metrics[-1]["metrics"].get("accuracy") if metrics else None,
            "tokens_per_s_last": metrics[-1]["tokens_per_s"] if metrics else None,
            "heldout": {k: final.get(k) for k in ("accuracy", "ece", "brier", "loss", "mean_margin", "pairs",
                                                  "accuracy/chosen_longer", "accuracy/chosen_shorter",
                                                  "count/chosen_longer", "count/chosen_shorter") if k in final},
        })
    finally:
        timer.cancel()
        if timer.is_alive():  # a timer that fired late: let its SIGTERM land on the no-op handler
            timer.join()
        signal.signal(signal.SIGTERM, previous)
        shutil.rmtree(run_dir, ignore_errors=True)
    return result


# ------------------------------------------------------------------------------------------------
# generation (issue 11): the worker's sampler with and without the KV cache


def run_generation(args: argparse.Namespace, device: torch.device, kind: str, deadline: Deadline) -> Dict[str, Any]:
    """Tokens/s of ``trainers.generate.Sampler`` drawing ``gen_batch`` samples of one random prompt, ``gen_new_tokens``
    each (no EOS: every row draws them all), with the KV cache (the tiny decoder's own, or transformers'
    ``past_key_values``) and without (a full forward over the whole sequence per new token); temperature 1, the same
    seed for both. bf16 weights on CUDA (as served), fp32 elsewhere. One untimed warm-up run per path."""
    from trainers.generate import Sampler, SamplingConfig

    reset_memory(device)
    model, info = build_policy(args, device, kind, "sdpa")
    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    core = model.core.to(dtype).eval()
    del model
    rng = random.Random(f"bench-generation:{args.seed}")
    prompt = [rng.randrange(1, args.shape["vocab_size"]) for _ in range(args.gen_prompt_tokens)]
    sampler = Sampler(core, info["family"], eos_token_id=None, pad_token_id=PAD_ID, device=device, max_seq_len=None)
    rows, new_tokens = args.gen_batch, args.gen_new_tokens
    result: Dict[str, Any] = {
        "rows": rows, "prompt_tokens": len(prompt), "new_tokens": new_tokens, "dtype": str(dtype).replace("torch.", ""),
        "attention": info["attention"], "family": info["family"], "parameters": info["parameters"],
        "sampler": "trainers.generate.Sampler, temperature 1, top-p 1, no EOS",
        "tokens_per_s_definition": "rows * new_tokens / wall time of one sample() call (prefill included), median "
                                   "of the timed runs, CUDA-synchronised",
    }

    def sample(use_cache: bool, count: int) -> Tuple[float, List[Dict[str, Any]]]:
        settings = SamplingConfig(n=rows, temperature=1.0, max_new_tokens=count, seed=args.seed, batch_size=rows,
                                  use_cache=use_cache)
        sync(device)
        t0 = time.perf_counter()
        out = sampler.sample(prompt, rows=rows, settings=settings, seed=args.seed)
        sync(device)
        return time.perf_counter() - t0, out

    drawn: Dict[str, List[List[int]]] = {}
    for name, use_cache in (("kv_cache", True), ("no_cache", False)):
        reset_memory(device)
        sample(use_cache, min(4, new_tokens))  # warm-up: kernels, allocator, cache classes
        times: List[float] = []
        for _ in range(args.gen_repeats):
            if times and deadline.left() < 5:
                break
            seconds, out = sample(use_cache, new_tokens)
            times.append(seconds)
            drawn[name] = [row["ids"] for row in out]
        median = statistics.median(times)
        result[name] = {"seconds": times, "median_s": median, "tokens_per_s": rows * new_tokens / median,
                        "ms_per_new_token": 1000 * median / new_tokens, "peak_memory_bytes": peak_memory(device)}
        print(f"[bench] generation {name}: {result[name]['tokens_per_s']:.0f} tokens/s", file=sys.stderr, flush=True)
    result["kv_cache_speedup"] = result["kv_cache"]["tokens_per_s"] / result["no_cache"]["tokens_per_s"]
    # the same seed draws the same tokens when both paths compute the same logits: always in fp32; bf16 rounding
    # may flip a draw, after which the rows differ
    same = [a == b for a, b in zip(drawn["kv_cache"], drawn["no_cache"])]
    result["identical_rows"] = sum(same)
    result["identical_rows_note"] = "fp32: all rows are expected identical; bf16: rounding can change a draw"
    return result


# ------------------------------------------------------------------------------------------------
# main


def _package_versions() -> Dict[str, Optional[str]]:
    """Installed versions of the optional packages, from their metadata (nothing is imported)."""
    from importlib import metadata

    versions: Dict[str, Optional[str]] = {}
    for name in ("transformers", "peft", "accelerate", "safetensors"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def environment(device: torch.device) -> Dict[str, Any]:
    transformers = transformers_module()
    env: Dict[str, Any] = {"device": str(device), "device_name": None, "torch": torch.__version__,
                           "transformers": getattr(transformers, "__version__", None), "python": platform.python_version(),
                           "cuda": torch.version.cuda, "packages": _package_versions()}
    if transformers is None and env["packages"]["transformers"]:  # installed but not importable: say why
        try:
            import transformers as _  # noqa: F401
        except Exception as error:
            env["transformers_import_error"] = f"{type(error).__name__}: {error}"[:1000]
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(device_name=torch.cuda.get_device_name(device), device_memory_bytes=int(props.total_memory),
                   capability=f"{props.major}.{props.minor}", bf16_supported=torch.cuda.is_bf16_supported())
    return env


def write_report(path: str, report: Dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(json_safe(report), handle, indent=1, allow_nan=False, default=str)
    os.replace(tmp, path)


def _phase(report: Dict[str, Any], name: str, smoke: bool, fn: Callable[[], Any]) -> Any:
    """Run one phase; off smoke a failure is recorded and the benchmark goes on (smoke re-raises: CI)."""
    t0 = time.perf_counter()
    print(f"[bench] {name} at {elapsed():.1f} s", file=sys.stderr, flush=True)
    try:
        return fn()
    except Exception as error:
        if smoke:
            raise
        report["errors"].append({"phase": name, "error": f"{type(error).__name__}: {error}"[:1000],
                                 "traceback": traceback.format_exc()[-4000:]})
        return None
    finally:
        report["phase_seconds"][name] = time.perf_counter() - t0


class BenchTerminated(BaseException):
    """SIGTERM (e.g. the device run's timeout): unwinds to ``main``, which still writes the report.
    A BaseException so that ``_phase``'s ``except Exception`` does not swallow it."""


def _raise_terminated(signum: int, frame: Any) -> None:  # noqa: ARG001
    raise BenchTerminated(signal.Signals(signum).name)


def finish_report(report: Dict[str, Any], path: str) -> None:
    """Comparison, summary and wall time, then write the JSON; a failure here is recorded, not raised."""
    for key, build in (("comparison", lambda: compare(report["variants"])), ("summary", lambda: summary(report))):
        try:
            report[key] = build()
        except Exception as error:  # the report must still be written
            report["errors"].append({"phase": key, "error": f"{type(error).__name__}: {error}"[:1000]})
    report["total_wall_s"] = elapsed()
    write_report(path, report)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the benchmark; the JSON report is written after every phase and at the end, whatever happens
    (an error in a phase is recorded and the rest goes on; SIGTERM or a fatal error still writes it)."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    report: Dict[str, Any] = {
        "schema": 3,
        "benchmark": "trainers DPO naive vs optimised + HH-RLHF reward model (issue 5) + generation (issue 11)",
        "status": "running", "smoke": args.smoke, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "environment": {"device_name": None}, "correctness": None, "variants": {}, "comparison": {},
        "reward_model": None, "generation": None, "skipped": [], "errors": [], "phase_seconds": {},
    }
    try:
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread
        previous = None
    code = 0
    try:
        _run(args, report)
        report["status"] = "completed"
    except BenchTerminated as stop:
        report["status"] = "interrupted"
        report["errors"].append({"phase": "main", "error": f"stopped by {stop} at {elapsed():.1f} s"})
        code = 1
    except BaseException as error:
        report["status"] = "failed"
        report["errors"].append({"phase": "main", "error": f"{type(error).__name__}: {error}"[:1000],
                                 "traceback": traceback.format_exc()[-4000:]})
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        finish_report(report, args.out)
        print(f"[bench] wrote {args.out} ({report['status']}) after {elapsed():.1f} s", file=sys.stderr, flush=True)
    return code


def _run(args: argparse.Namespace, report: Dict[str, Any]) -> None:
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu")
    kind = resolve_kind(args)
    deadline = Deadline(args.deadline_s)
    env = environment(device)
    peak_tflops = args.peak_tflops if args.peak_tflops else peak_tflops_for(env["device_name"])
    peak_source = "--peak-tflops" if args.peak_tflops else ("device-name table" if peak_tflops else None)
    n_pool = args.batch_pairs * (args.warmup + args.steps)
    warm_pairs = synthetic_pairs(args.batch_pairs * args.warmup, args, seed=args.seed + 100, start_index=0)
    timed_pairs = synthetic_pairs(args.batch_pairs * args.steps, args, seed=args.seed, start_index=len(warm_pairs))
    width = max(e.length for e in warm_pairs + timed_pairs)  # the naive pads everything to this
    report.update({
        "environment": env, "model_kind": kind,
        "model_shape": args.shape, "model_shape_name": "tiny (smoke)" if args.smoke else "Qwen2-0.5B",
        "settings": {"batch_pairs": args.batch_pairs, "warmup_steps": args.warmup, "timed_steps": args.steps,
                     "chunk_size": args.chunk_size, "beta": args.beta, "lr": args.lr, "seed": args.seed,
                     "lengths": args.lengths, "pairs": n_pool, "naive_pad_width": width,
                     "timed_pair_lengths_mean": sum(e.length for e in timed_pairs) / max(1, len(timed_pairs)),
                     "master_weights": "float32", "tf32_matmul": tf32_matmul_state(),
                     "deadline_s": args.deadline_s, "loss": "DPO sigmoid"},
        "mfu_definition": MFU_DEFINITION,
        "peak_tflops": peak_tflops, "peak_tflops_source": peak_source,
        "peak_tflops_note": "dense bf16 tensor-core peak (no sparsity): H100 SXM 989, H200 989, A100 312; "
                            "MFU of the fp32 naive variant is also measured against this bf16 peak",
        "anchors": ANCHORS,
    })
    peak_flops = peak_tflops * 1e12 if peak_tflops else None

    # a phase starts only with this much time left (s); the timed loops also stop at the deadline
    need = {"correctness": 20, "naive": 40, "naive_bf16": 25, "optimised": 20, "optimised_grad_ckpt": 20,
            "generation": 25}
    if args.smoke:
        need = {k: 1 for k in need}
    if deadline.left() >= need["correctness"]:
        report["correctness"] = _phase(report, "correctness", args.smoke, lambda: correctness_check(
            args, device, kind, timed_pairs[: min(2, len(timed_pairs))], width))
        finish_report(report, args.out)
    else:
        report["skipped"].append({"phase": "correctness", "reason": f"deadline ({deadline.left():.0f} s left)"})
    wanted = [v for v in args.variants.split(",") if v]  # validated in parse_args
    # the reward model and generation run after the two variants the comparison needs, before the extras
    order = ([v for v in wanted if v in ("naive", "optimised")] + ["__rm__", "__generation__"]
             + [v for v in wanted if v not in ("naive", "optimised")])
    for name in order:
        if name == "__generation__":
            if args.skip_generation:
                report["skipped"].append({"phase": "generation", "reason": "--skip-generation"})
            elif deadline.left() < need["generation"]:
                report["skipped"].append({"phase": "generation", "reason": f"deadline ({deadline.left():.0f} s left)"})
            else:
                report["generation"] = _phase(report, "generation", args.smoke,
                                              lambda: run_generation(args, device, kind, deadline))
                finish_report(report, args.out)
            continue
        if name == "__rm__":
            if args.skip_rm:
                report["skipped"].append({"phase": "reward_model", "reason": "--skip-rm"})
                continue
            report["reward_model"] = _phase(report, "reward_model", args.smoke,
                                            lambda: run_reward_model(args, device, kind, deadline))
            finish_report(report, args.out)
            rm = report["reward_model"] or {}
            if "skipped" in rm:
                report["skipped"].append({"phase": "reward_model", "reason": rm["skipped"]})
            if rm.get("stopped_by_signal"):  # SIGTERM from outside reached the worker's handler, not ours
                raise BenchTerminated("SIGTERM (during the reward model)")
            continue
        if deadline.left() < need[name]:
            report["skipped"].append({"phase": name, "reason": f"deadline ({deadline.left():.0f} s left)"})
            continue
        result = _phase(report, name, args.smoke, lambda: run_variant(
            name, args, device, kind, warm_pairs, timed_pairs, width, peak_flops, deadline))
        if result is not None:
            report["variants"][name] = result
            print(f"[bench] {name}: median step {(result.get('step_time_s') or {}).get('median')} s, "
                  f"{result.get('non_pad_tokens_per_s')} tokens/s, mfu {result.get('mfu')}", file=sys.stderr, flush=True)
        finish_report(report, args.out)


def compare(variants: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """Speed-ups of the optimised variants over the naive ones (the same timed pairs)."""
    out: Dict[str, Any] = {}
    for fast in ("optimised", "optimised_grad_ckpt"):
        for slow in ("naive", "naive_bf16"):
            a, b = variants.get(fast), variants.get(slow)
            if not a or not b or not a.get("non_pad_tokens_per_s") or not b.get("non_pad_tokens_per_s"):
                continue
            same_batches = a["batch_pairs"] == b["batch_pairs"] and a["timed_steps"] == b["timed_steps"]
            entry = {"tokens_per_s_speedup": a["non_pad_tokens_per_s"] / b["non_pad_tokens_per_s"],
                     "median_step_time_speedup": (b["step_time_s"]["median"] / a["step_time_s"]["median"])
                     if same_batches else None}
            if a.get("peak_memory_bytes") and b.get("peak_memory_bytes"):
                entry["peak_memory_ratio"] = a["peak_memory_bytes"] / b["peak_memory_bytes"]
            out[f"{fast}_vs_{slow}"] = entry
    return out


def summary(report: Dict[str, Any]) -> Dict[str, Any]:
    """The headline numbers, for a quick read of the JSON."""
    variants = report["variants"]
    out: Dict[str, Any] = {"status": report.get("status"), "device_name": report["environment"].get("device_name"),
                           "peak_tflops": report.get("peak_tflops"),
                           "goal_mfu": ANCHORS["goal_mfu"],
                           "correctness_pass": (report["correctness"] or {}).get("pass"),
                           "skipped": [s["phase"] for s in report["skipped"]],
                           "errors": [e["phase"] for e in report["errors"]]}
    for name, v in variants.items():
        out[name] = {k: v.get(k) for k in ("mfu", "mfu_needed", "non_pad_tokens_per_s", "peak_memory_gib", "batch_pairs")}
        out[name]["median_step_s"] = (v.get("step_time_s") or {}).get("median")
    speedup = report["comparison"].get("optimised_vs_naive")
    if speedup:
        out["optimised_vs_naive_tokens_per_s"] = speedup["tokens_per_s_speedup"]
    rm = report["reward_model"] or {}
    out["reward_model_heldout_accuracy"] = (rm.get("heldout") or {}).get("accuracy")
    out["reward_model_heldout_ece"] = (rm.get("heldout") or {}).get("ece")
    generation = report.get("generation") or {}
    for name in ("kv_cache", "no_cache"):
        out[f"generation_{name}_tokens_per_s"] = (generation.get(name) or {}).get("tokens_per_s")
    out["generation_kv_cache_speedup"] = generation.get("kv_cache_speedup")
    return out


def json_safe(value: Any) -> Any:
    """Non-finite floats become null (strict JSON)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
