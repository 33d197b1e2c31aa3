"""GPU benchmark of one DPO policy step: tokens/s and peak memory per efficiency switch.

    python3 trainers/bench_gpu.py --out bench/trainers-dpo.json          # one GPU, real sizes
    python3 trainers/bench_gpu.py --out /tmp/smoke.json --smoke          # CPU, tiny sizes (tests)

Variants: separate vs concatenated chosen/rejected forward, full-logits vs chunked completion
log-probs, fp32 vs bf16 autocast, and gradient checkpointing. Every variant trains the same
freshly seeded decoder (transformers' Llama from a LlamaConfig when transformers imports, else the
pure-torch TinyDecoder) on the same random batches, with reference log-probs precomputed (a
constant), so the first-step losses must agree up to numerics; the JSON records them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import time
from typing import Any, Dict, List, Optional

if __package__ in (None, ""):  # run as a script: make the package importable
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402

from trainers.batching import collate_pairs, count_tokens  # noqa: E402
from trainers.batching import Example  # noqa: E402
from trainers.compat import transformers_module  # noqa: E402
from trainers.errors import is_out_of_memory  # noqa: E402
from trainers.losses import dpo_loss  # noqa: E402
from trainers.models import PreferenceModel, enable_gradient_checkpointing  # noqa: E402
from trainers.tiny_model import TinyConfig, TinyDecoder  # noqa: E402

VARIANTS = [
    # name, concatenated, chunked, bf16, gradient checkpointing
    ("separate+full_logits", False, False, False, False),
    ("concat+full_logits", True, False, False, False),
    ("separate+chunked", False, True, False, False),
    ("concat+chunked", True, True, False, False),
    ("concat+full_logits+bf16", True, False, True, False),
    ("concat+chunked+bf16", True, True, True, False),
    ("concat+chunked+bf16+grad_ckpt", True, True, True, True),
]


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="write the JSON results here")
    p.add_argument("--smoke", action="store_true", help="tiny sizes and 2 steps: checks the script, measures nothing")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--model", default="auto", choices=("auto", "llama", "tiny"), help="auto: llama when transformers imports")
    p.add_argument("--vocab", type=int, default=128256)
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=8, help="pairs per step")
    p.add_argument("--prompt-len", type=int, default=256)
    p.add_argument("--completion-len", type=int, default=768, help="longest completion; others are 50-100%% of it")
    p.add_argument("--chunk-size", type=int, default=1024)
    p.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per variant")
    p.add_argument("--variants", default="", help="comma-separated subset of variant names")
    args = p.parse_args(argv)
    if args.smoke:
        args.vocab, args.dim, args.layers, args.heads = 300, 32, 2, 4
        args.batch_size, args.prompt_len, args.completion_len, args.chunk_size = 2, 8, 16, 7
        args.steps, args.warmup = 2, 1
    return args


def build_model(args: argparse.Namespace, device: torch.device, kind: str, seed: int) -> PreferenceModel:
    torch.manual_seed(seed)
    max_len = args.prompt_len + args.completion_len + 8
    if kind == "llama":
        transformers = transformers_module()
        config = transformers.LlamaConfig(vocab_size=args.vocab, hidden_size=args.dim, intermediate_size=int(args.dim * 8 / 3 // 64 * 64) or 64,
                                          num_hidden_layers=args.layers, num_attention_heads=args.heads,
                                          num_key_value_heads=args.heads, max_position_embeddings=max_len,
                                          tie_word_embeddings=False)
        try:
            core = transformers.LlamaForCausalLM._from_config(config, attn_implementation="sdpa")
        except Exception:
            core = transformers.LlamaForCausalLM(config)
        family = "hf"
    else:
        core = TinyDecoder(TinyConfig(vocab_size=args.vocab, dim=args.dim, n_layers=args.layers, n_heads=args.heads,
                                      max_seq_len=max_len))
        family = "tiny"
    return PreferenceModel(core.to(device), head="lm", family=family, chunk_size=args.chunk_size)


def make_batches(args: argparse.Namespace, n: int, seed: int) -> List[List[Example]]:
    g = torch.Generator().manual_seed(seed)
    batches = []
    for b in range(n):
        examples = []
        for i in range(args.batch_size):
            lengths = torch.randint(max(1, args.completion_len // 2), args.completion_len + 1, (2,), generator=g).tolist()
            prompt = torch.randint(0, args.vocab, (args.prompt_len,), generator=g).tolist()
            chosen = torch.randint(0, args.vocab, (lengths[0],), generator=g).tolist()
            rejected = torch.randint(0, args.vocab, (lengths[1],), generator=g).tolist()
            examples.append(Example(index=b * args.batch_size + i, prompt_ids=prompt, chosen_ids=chosen,
                                    rejected_ids=rejected, margin=0.0, chosen_tokens=lengths[0], rejected_tokens=lengths[1]))
        batches.append(examples)
    return batches


def run_variant(args, device, kind, name, concatenated, chunked, bf16, grad_ckpt, batches) -> Dict[str, Any]:
    result: Dict[str, Any] = {"name": name, "concatenated_forward": concatenated, "chunked_log_probs": chunked,
                              "bf16": bf16, "gradient_checkpointing": grad_ckpt}
    if bf16 and device.type != "cuda":
        return {**result, "skipped": "bf16 autocast is measured on CUDA only"}
    model = optimizer = None
    try:
        model = build_model(args, device, kind, seed=0)
        result["parameters"] = sum(p.numel() for p in model.parameters())
        model.chunked = chunked
        if grad_ckpt:
            enable_gradient_checkpointing(model)
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
        autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        losses, tokens, elapsed = [], 0, 0.0
        for step, examples in enumerate(batches[: args.warmup + args.steps]):
            batch = collate_pairs(examples, pad_token_id=0, concatenated=concatenated)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            with autocast():
                if concatenated:
                    block = {k: v.to(device) for k, v in batch["concatenated"].items()}
                    logps, _ = model(**block)
                    n = len(examples)
                    chosen, rejected = logps[:n], logps[n:]
                else:
                    chosen, _ = model(**{k: v.to(device) for k, v in batch["chosen"].items()})
                    rejected, _ = model(**{k: v.to(device) for k, v in batch["rejected"].items()})
                ref_chosen = torch.full_like(chosen, -1.0 * args.completion_len)
                ref_rejected = torch.full_like(rejected, -1.0 * args.completion_len)
                loss = dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta=0.1)[0].mean()
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if step >= args.warmup:
                elapsed += time.perf_counter() - start
                tokens += count_tokens(batch)
            losses.append(float(loss))
        result.update(tokens_per_s=tokens / elapsed if elapsed else None, step_ms=1000 * elapsed / max(1, args.steps),
                      first_loss=losses[0], losses=losses,
                      peak_memory_bytes=torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None)
    except Exception as error:  # an OOM in one variant must not end the benchmark
        if not is_out_of_memory(error):
            raise
        result.update(oom=True, error=str(error).splitlines()[0])
    finally:
        del model, optimizer
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return result


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu")
    kind = args.model
    if kind == "auto":
        kind = "llama" if transformers_module() is not None else "tiny"
    wanted = {v for v in args.variants.split(",") if v}
    variants = [v for v in VARIANTS if not wanted or v[0] in wanted]
    batches = make_batches(args, args.warmup + args.steps, seed=1)
    results = []
    for name, concatenated, chunked, bf16, grad_ckpt in variants:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        results.append(run_variant(args, device, kind, name, concatenated, chunked, bf16, grad_ckpt, batches))
        print(f"[bench] {json.dumps(results[-1])}", file=sys.stderr, flush=True)
    fp32_first = [r["first_loss"] for r in results if "first_loss" in r and not r["bf16"]]
    report = {
        "schema": 1,
        "smoke": args.smoke,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "transformers": getattr(transformers_module(), "__version__", None),
        "model": {"kind": kind, "parameters": next((r["parameters"] for r in results if "parameters" in r), None),
                  "vocab": args.vocab, "dim": args.dim, "layers": args.layers,
                  "heads": args.heads},
        "settings": {"batch_pairs": args.batch_size, "prompt_len": args.prompt_len, "completion_len": args.completion_len,
                     "chunk_size": args.chunk_size, "steps": args.steps, "warmup": args.warmup},
        "fp32_first_loss_spread": (max(fp32_first) - min(fp32_first)) if fp32_first else None,
        "results": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=1)
    print(f"[bench] wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
