"""Sampling from a policy: ``python3 -m trainers generate --config FILE``.

The config names a JSON-lines file of prompts (``{"id": str, "prompt": str | [{"role", "content"}]}``), the
policy (a fresh tiny decoder from a seed, a Hugging Face model, or either rebuilt from a ``tribunal train`` run
and its checkpoint, full or LoRA) and the sampling settings. For every prompt the worker draws ``n`` samples and
emits one ``sample`` event with each sample's text, token count, finish reason and summed log-probability under
the policy (temperature 1, no top-p: the quantity a KL estimate needs).

Sampling is batched (the ``n`` rows of one prompt together, ``batch_size`` at most per forward) with a KV cache,
and reproducible: each batch draws from its own generator seeded from (seed, prompt id, first sample index), so
a prompt gives the same samples whichever other prompts are in the file, which is what lets a resumed run produce
exactly what an uninterrupted one would have.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import signal
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import torch

from . import checkpoint as ckpt
from .config import (Config, DataConfig, LoraConfig, ModelConfig, TokenizerConfig, _parse_section, _spec,
                     config_to_dict)
from .errors import ConfigError, DataError
from .protocol import EventStream
from .tokenizer import build_tokenizer

log = logging.getLogger("trainers.generate")

MAX_PROMPT_ROW_CHARS = 1_000_000


@dataclass(frozen=True)
class SamplingConfig:
    n: int = _spec(4, min=1, max=1024, doc="samples per prompt")
    temperature: float = _spec(1.0, min=0.0, max=10.0, doc="0: greedy")
    top_p: float = _spec(1.0, min=0.0, max=1.0, min_exclusive=True, doc="nucleus sampling: keep the smallest set of tokens with this much probability")
    max_new_tokens: int = _spec(64, min=1, doc="tokens per sample at most (EOS stops earlier)")
    seed: int = _spec(0, min=0, doc="sampling seed; each prompt's batches derive their own from it")
    batch_size: int = _spec(16, min=1, doc="sequences per forward (one prompt's samples, split when n is larger)")
    use_cache: bool = _spec(True, doc="KV cache (false: recompute the whole sequence each step, for comparison)")


@dataclass(frozen=True)
class ReferenceConfig:
    model: ModelConfig = _spec(default_factory=ModelConfig)
    lora: Optional[LoraConfig] = _spec(None)
    seed: int = _spec(0, min=0, doc="model init seed, as in training")
    checkpoint: Optional[str] = _spec(None, path=True, doc="a checkpoint folder of a dpo run; none: the initial model")


@dataclass(frozen=True)
class GenerateConfig:
    prompts: str = _spec(path=True, doc="JSONL of {id, prompt}")
    model: ModelConfig = _spec(default_factory=ModelConfig)
    tokenizer: TokenizerConfig = _spec(default_factory=TokenizerConfig)
    lora: Optional[LoraConfig] = _spec(None, doc="as the training run had it (the checkpoint holds the adapters)")
    seed: int = _spec(0, min=0, doc="model init seed, as in training (the tiny model's weights come from it)")
    checkpoint: Optional[str] = _spec(None, path=True, doc="a checkpoint folder of a dpo run; none: the initial model")
    device: str = _spec("auto", choices=("auto", "cpu", "cuda"))
    max_prompt_length: int = _spec(256, min=1, doc="prompts are kept to their last N tokens")
    sampling: SamplingConfig = _spec(default_factory=SamplingConfig)
    reference: Optional[ReferenceConfig] = _spec(None, doc="also score every sample under this policy (same tokenizer)")


def load_generate_config(path: str) -> GenerateConfig:
    try:
        with open(path, "r", encoding="utf-8") as handle:
            raw = json.load(handle)
    except OSError as error:
        raise ConfigError("--config", f"cannot read {path}: {error.strerror or error}")
    except json.JSONDecodeError as error:
        raise ConfigError("--config", f"{path} is not valid JSON (line {error.lineno}: {error.msg})")
    config = _parse_section(GenerateConfig, raw, "", os.path.dirname(os.path.abspath(path)))
    for where, policy in (("", config), ("reference.", config.reference)):
        if policy is None:
            continue
        if policy.checkpoint is not None and not os.path.isfile(os.path.join(policy.checkpoint, "trainer_state.json")):
            raise ConfigError(f"{where}checkpoint", f"{policy.checkpoint} is not a complete checkpoint (no trainer_state.json)")
        if policy.model.kind == "hf" and not (policy.model.path or policy.model.hf_config):
            raise ConfigError(f"{where}model.path", "an hf model needs 'path' (a local directory)")
    return config


# ------------------------------------------------------------------------------------------------
# prompts


def read_prompts(path: str) -> List[Dict[str, Any]]:
    """The prompts file: one ``{"id", "prompt"}`` object per line; a bad line is a DataError naming it."""
    rows: List[Dict[str, Any]] = []
    seen = set()
    try:
        handle = open(path, "r", encoding="utf-8")
    except OSError as error:
        raise DataError(path, None, f"cannot read the prompts: {error.strerror or error}")
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if len(line) > MAX_PROMPT_ROW_CHARS:
                raise DataError(path, number, f"line of {len(line)} characters, over {MAX_PROMPT_ROW_CHARS}")
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(path, number, f"invalid JSON: {error.msg}")
            if not isinstance(row, dict) or not isinstance(row.get("id"), str) or not row["id"]:
                raise DataError(path, number, "each line needs a non-empty string 'id'")
            prompt = row.get("prompt")
            chat = isinstance(prompt, list) and all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in prompt)
            if not (isinstance(prompt, str) or (chat and prompt)):
                raise DataError(path, number, "'prompt' must be text or a list of {role, content} messages")
            if row["id"] in seen:
                raise DataError(path, number, f"id {row['id']!r} repeats an earlier line")
            seen.add(row["id"])
            rows.append({"id": row["id"], "prompt": prompt})
    return rows


def prompt_ids(tokenizer, prompt: Any, max_prompt_length: int) -> List[int]:
    """Token ids of a prompt as training renders it: text as is, a chat through the chat format with the
    generation prompt; BOS first; the last ``max_prompt_length`` tokens when longer."""
    text = prompt if isinstance(prompt, str) else tokenizer.render_chat(list(prompt), add_generation_prompt=True)
    ids = tokenizer.encode(text)
    bos = tokenizer.bos_token_id
    if bos is not None and (not ids or ids[0] != bos):
        ids = [bos] + ids
    return ids[-max_prompt_length:]


def batch_seed(seed: int, prompt_id: str, first_sample: int) -> int:
    digest = hashlib.sha256(f"{seed}\x00{prompt_id}\x00{first_sample}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") & ((1 << 63) - 1)


# ------------------------------------------------------------------------------------------------
# sampling


def filter_top_p(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero every token outside the nucleus: the smallest set of most likely tokens whose probability reaches
    ``top_p`` (the most likely token always stays); rows are renormalised."""
    if top_p >= 1.0:
        return probs
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True)
    before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs  # probability of the tokens ranked above
    sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)
    kept = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return kept / kept.sum(dim=-1, keepdim=True)


class Sampler:
    """Draws samples from a causal LM core: the tiny decoder (its own KV cache) or a Hugging Face model."""

    def __init__(self, core: torch.nn.Module, family: str, *, eos_token_id: Optional[int], pad_token_id: int,
                 device: torch.device, max_seq_len: Optional[int]):
        self.core = core
        self.family = family
        self.eos = eos_token_id
        self.pad = pad_token_id
        self.device = device
        self.max_seq_len = max_seq_len

    def _logits_full(self, ids: torch.Tensor) -> torch.Tensor:
        if self.family == "tiny":
            return self.core(ids)[:, -1]
        return self.core(input_ids=ids, use_cache=False).logits[:, -1]

    @torch.no_grad()
    def sample(self, prompt: Sequence[int], *, rows: int, settings: SamplingConfig, seed: int) -> List[Dict[str, Any]]:
        """``rows`` samples of one prompt: token ids (EOS excluded), summed log-probs (EOS included when it
        ended the sample) and the finish reason (``stop`` at EOS, ``length`` at max_new_tokens)."""
        max_new = settings.max_new_tokens
        if self.max_seq_len is not None:
            max_new = min(max_new, self.max_seq_len - len(prompt))
            if max_new < 1:
                raise DataError("prompts", None, f"a prompt of {len(prompt)} tokens leaves no room under max_seq_len "
                                                 f"{self.max_seq_len}: lower max_prompt_length")
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed)
        ids = torch.tensor([list(prompt)] * rows, dtype=torch.long, device=self.device)
        tokens: List[List[int]] = [[] for _ in range(rows)]
        logps = torch.zeros(rows, dtype=torch.float64, device=self.device)
        finished = torch.zeros(rows, dtype=torch.bool, device=self.device)
        finish = ["length"] * rows
        cache = None
        past = None
        if settings.use_cache and self.family == "tiny":
            cache = self.core.new_cache(batch=rows, capacity=len(prompt) + max_new)
            logits = self.core.forward_cached(ids, cache)[:, -1]
        elif settings.use_cache:
            out = self.core(input_ids=ids, use_cache=True)
            logits, past = out.logits[:, -1], out.past_key_values
        else:
            logits = self._logits_full(ids)
        for position in range(max_new):
            logits = logits.float()
            log_probs = torch.log_softmax(logits, dim=-1)
            if settings.temperature == 0:
                chosen = torch.argmax(logits, dim=-1)
            else:
                probs = torch.softmax(logits / settings.temperature, dim=-1)
                probs = filter_top_p(probs, settings.top_p)
                chosen = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
            chosen = torch.where(finished, torch.full_like(chosen, self.pad), chosen)
            step_logp = log_probs.gather(-1, chosen[:, None]).squeeze(-1).double()
            logps += torch.where(finished, torch.zeros_like(step_logp), step_logp)
            for row, token in enumerate(chosen.tolist()):
                if finished[row]:
                    continue
                if self.eos is not None and token == self.eos:
                    finish[row] = "stop"
                else:
                    tokens[row].append(token)
            if self.eos is not None:
                finished |= chosen == self.eos
            if bool(finished.all()) or position == max_new - 1:
                break  # no forward pass for a token that will not be sampled
            step = chosen[:, None]
            if cache is not None:
                logits = self.core.forward_cached(step, cache)[:, -1]
            elif past is not None:
                out = self.core(input_ids=step, past_key_values=past, use_cache=True)
                logits, past = out.logits[:, -1], out.past_key_values
            else:
                ids = torch.cat([ids, step], dim=1)
                logits = self._logits_full(ids)
        return [{"ids": tokens[row], "logprob": float(logps[row]), "finish": finish[row]} for row in range(rows)]


class Scorer:
    """Summed log-probabilities of given completions under a (reference) policy, batched and right-padded, through
    the same ``PreferenceModel`` forward DPO uses for its reference log-probs."""

    def __init__(self, model, *, pad_token_id: int, device: torch.device, batch_size: int):
        self.model = model
        self.pad = pad_token_id
        self.device = device
        self.batch_size = batch_size

    @torch.no_grad()
    def logprobs(self, prompt: Sequence[int], completions: Sequence[Sequence[int]]) -> List[float]:
        from .batching import collate_sequences

        scores: List[float] = []
        for start in range(0, len(completions), self.batch_size):
            chunk = [(list(prompt), list(completion)) for completion in completions[start:start + self.batch_size]]
            block = {k: v.to(self.device) for k, v in collate_sequences(chunk, self.pad).items()}
            logps, _ = self.model(block["input_ids"], block["attention_mask"], block["labels"])
            scores.extend(float(value) for value in logps)
        return scores


def sample_prompt(sampler: Sampler, tokenizer, prompt_id: str, ids: Sequence[int],
                  settings: SamplingConfig, scorer: Optional[Scorer] = None) -> List[Dict[str, Any]]:
    """The ``n`` samples of one prompt, in ``batch_size`` chunks, each chunk seeded by its first index; with a
    ``scorer``, each sample's ``ref_logprob`` under the reference policy (EOS included when it ended the sample)."""
    samples: List[Dict[str, Any]] = []
    scored: List[List[int]] = []
    for first in range(0, settings.n, settings.batch_size):
        rows = min(settings.batch_size, settings.n - first)
        drawn = sampler.sample(ids, rows=rows, settings=settings, seed=batch_seed(settings.seed, prompt_id, first))
        for offset, sample in enumerate(drawn):
            logprob = sample["logprob"]
            samples.append({
                "index": first + offset,
                "text": tokenizer.decode(sample["ids"]),
                "tokens": len(sample["ids"]),
                "logprob": logprob if math.isfinite(logprob) else None,
                "finish": sample["finish"],
            })
            ended = sample["finish"] == "stop" and sampler.eos is not None
            scored.append(sample["ids"] + ([sampler.eos] if ended else []))
    if scorer is not None:
        for sample, value in zip(samples, scorer.logprobs(ids, scored)):
            sample["ref_logprob"] = value if math.isfinite(value) else None
    return samples


# ------------------------------------------------------------------------------------------------
# the command


def _device(setting: str) -> torch.device:
    if setting == "cuda" or (setting == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise ConfigError("device", "is 'cuda' but no CUDA device is available")
        return torch.device("cuda")
    return torch.device("cpu")


def build_policy(config: Any, tokenizer, device: torch.device, *, tokenizer_config: TokenizerConfig, prompts: str):
    """The policy (``model``, ``lora``, ``seed``, ``checkpoint`` of ``config``) exactly as ``tribunal train dpo``
    built it (same seed, same LoRA), with the checkpoint's trained parameters loaded when one is given. Returns the
    PreferenceModel (eval mode) and its LoRA kind."""
    from .distributed import DistributedState
    from .engine import _build_policy

    # data is unused here; max_length 2 passes _build_policy's check against the tiny model's max_seq_len
    train_like = Config(run_dir=os.path.dirname(prompts),
                        data=DataConfig(train=prompts, max_length=2, max_prompt_length=1),
                        task="dpo", seed=config.seed, model=config.model, tokenizer=tokenizer_config, lora=config.lora)
    model, lora_kind = _build_policy(train_like, "dpo", tokenizer, device)
    if config.checkpoint is not None:
        ckpt.load_model_weights(model, config.checkpoint, DistributedState(device=device))
    model.eval()
    return model, lora_kind


class _Stop:
    """SIGTERM (Tribunal stopping the worker) or a vanished parent ends the run after the current prompt."""

    def __init__(self) -> None:
        self.requested = False
        self.parent = os.getppid()
        self._previous = signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame) -> None:  # noqa: ARG002
        self.requested = True

    def check(self) -> bool:
        if os.getppid() != self.parent:
            self.requested = True
        return self.requested

    def restore(self) -> None:
        signal.signal(signal.SIGTERM, self._previous)


def run_generate(config: GenerateConfig, events: EventStream) -> int:
    """Sample every prompt of ``config.prompts``; one ``sample`` event per prompt, then ``done``."""
    stop = _Stop()
    try:
        device = _device(config.device)
        prompts = read_prompts(config.prompts)
        tokenizer = build_tokenizer(config.tokenizer, config.model)
        model, lora_kind = build_policy(config, tokenizer, device, tokenizer_config=config.tokenizer, prompts=config.prompts)
        scorer = None
        if config.reference is not None:
            reference, _ = build_policy(config.reference, tokenizer, device, tokenizer_config=config.tokenizer,
                                        prompts=config.prompts)
            scorer = Scorer(reference, pad_token_id=tokenizer.pad_token_id, device=device,
                            batch_size=config.sampling.batch_size)
        # the tiny decoder's own cached path (LoRA layers sit inside it); an HF model (peft-wrapped or not) as is
        core = model.base() if model.family == "tiny" else model.core
        max_seq_len = core.tiny_config.max_seq_len if model.family == "tiny" else None
        sampler = Sampler(core, model.family,
                          eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, device=device,
                          max_seq_len=max_seq_len)
        settings = config.sampling
        parameters = sum(p.numel() for p in model.parameters())
        step = ckpt.read_trainer_state(config.checkpoint).get("step", 0) if config.checkpoint else 0
        events.emit("start", command="generate", prompts=len(prompts), device=str(device), torch=torch.__version__,
                    checkpoint=config.checkpoint, step=step,
                    model={"family": model.family, "parameters": parameters, "lora": lora_kind},
                    reference=None if config.reference is None else {"checkpoint": config.reference.checkpoint},
                    data={"tokenizer": tokenizer.kind}, config=config_to_dict(config))
        started = time.monotonic()
        total_tokens = 0
        done = 0
        for prompt in prompts:
            if stop.check():
                break
            ids = prompt_ids(tokenizer, prompt["prompt"], config.max_prompt_length)
            samples = sample_prompt(sampler, tokenizer, prompt["id"], ids, settings, scorer)
            total_tokens += sum(sample["tokens"] for sample in samples)
            done += 1
            events.emit("sample", id=prompt["id"], prompt_tokens=len(ids), samples=samples)
        elapsed = max(time.monotonic() - started, 1e-9)
        status = "completed" if done == len(prompts) else "stopped"
        events.emit("done", status=status, prompts=done, samples=done * settings.n, tokens=total_tokens,
                    tokens_per_s=total_tokens / elapsed)
        return 0
    finally:
        stop.restore()
