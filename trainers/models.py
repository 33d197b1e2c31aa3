"""Models behind one module: ``PreferenceModel`` turns token blocks into what the losses need.

* policy (``head="lm"``): per-sequence completion log-probs and token counts, from hidden states
  and the output layer (chunked, see ``logprobs``) or from full logits (naive, for comparison)
* reward model (``head="score"``): one scalar per sequence, read at its last non-padding token

Cores: the pure-torch ``TinyDecoder``, or Hugging Face causal-LM / sequence-classification
models loaded from a local directory or built from a config (when transformers imports).
Everything runs through ``PreferenceModel.forward`` so DDP/FSDP see every computation.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any, Iterator, Optional, Tuple

import torch
import torch.nn as nn

from . import lora as builtin_lora
from .compat import peft_module, transformers_module
from .errors import ConfigError
from .logprobs import completion_logps, completion_logps_from_logits, upcast
from .tiny_model import TinyConfig, TinyDecoder

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _is_peft_model(module: nn.Module) -> bool:
    return hasattr(module, "disable_adapter") and hasattr(module, "get_base_model")


class PreferenceModel(nn.Module):
    """Wraps a core model; ``forward`` returns (logps [B], counts [B]) or rewards [B]."""

    def __init__(self, core: nn.Module, *, head: str, family: str, chunked: bool = True, chunk_size: int = 1024):
        super().__init__()
        self.core = core
        self.head = head
        self.family = family  # "tiny" | "hf"
        self.chunked = chunked
        self.chunk_size = chunk_size
        # the policy in training also returns per-row sums of mean logits (TRL's logits/chosen, logits/rejected)
        self.track_logits = False

    # -- plumbing ---------------------------------------------------------------------------
    def base(self) -> nn.Module:
        """The core without a peft wrapper."""
        return self.core.get_base_model() if _is_peft_model(self.core) else self.core

    def _hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        base = self.base()
        if self.family == "tiny":
            return base.hidden_states(input_ids, attention_mask)
        out = _backbone(base, self.head)(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]

    def _output_layer(self) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        base = self.base()
        layer = base.lm_head if self.family == "tiny" else base.get_output_embeddings()
        return layer.weight, getattr(layer, "bias", None)

    # -- forward ----------------------------------------------------------------------------
    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: Optional[torch.Tensor] = None) -> Any:
        if self.head == "lm":
            if labels is None:
                raise ValueError("labels are required for log-probs")
            if self.chunked:
                hidden = self._hidden(input_ids, attention_mask)
                weight, bias = self._output_layer()
                return completion_logps(hidden, labels, weight, bias, chunk_size=self.chunk_size,
                                        with_logits=self.track_logits)
            if self.family == "tiny":
                logits = self.base()(input_ids, attention_mask)
            else:
                logits = self.core(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
            return completion_logps_from_logits(logits, labels, with_logits=self.track_logits)
        return self._scores(input_ids, attention_mask)

    def _scores(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        last = attention_mask.long().sum(dim=1).clamp(min=1) - 1
        rows = torch.arange(input_ids.shape[0], device=input_ids.device)
        base = self.base()
        if self.family == "tiny":
            hidden = base.hidden_states(input_ids, attention_mask)
            return upcast(base.score_head(hidden[rows, last]).squeeze(-1))
        head = getattr(base, "score", None)
        if head is not None and hasattr(base, "base_model_prefix") and hasattr(base, base.base_model_prefix):
            hidden = self._hidden(input_ids, attention_mask)
            return upcast(head(hidden[rows, last]).squeeze(-1))
        logits = self.core(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits
        return upcast(logits.squeeze(-1))

    # -- reference ----------------------------------------------------------------------------
    def has_adapters(self) -> bool:
        return _is_peft_model(self.core) or builtin_lora.has_builtin_lora(self.core)

    @contextlib.contextmanager
    def adapters_disabled(self) -> Iterator[None]:
        """The base model without LoRA adapters: DPO's reference at no extra memory."""
        if _is_peft_model(self.core):
            with self.core.disable_adapter():
                yield
        elif builtin_lora.has_builtin_lora(self.core):
            with builtin_lora.adapters_disabled(self.core):
                yield
        else:
            yield


def _backbone(base: nn.Module, head: str) -> nn.Module:
    """The HF decoder stack whose ``last_hidden_state`` feeds the output layer or score head.

    ``get_decoder()`` where the model has one (every causal LM in transformers 5, which falls back to
    ``self.model``; in 4.x only the classes that define it), else the ``base_model_prefix`` attribute
    (``model`` for Llama/Qwen2, ``transformer`` for GPT-2), which is also what sequence classifiers use.
    """
    if head == "lm":
        get_decoder = getattr(base, "get_decoder", None)
        decoder = None
        if callable(get_decoder):
            try:
                decoder = get_decoder()
            except (AttributeError, NotImplementedError):
                decoder = None
        if decoder is not None and decoder is not base:
            return decoder
    return getattr(base, base.base_model_prefix)


def _dtype_keyword(transformers) -> str:
    """transformers 4.56 renamed ``torch_dtype`` to ``dtype`` (``from_pretrained``/``from_config``; 5.x
    still maps ``torch_dtype`` with a deprecation warning, 4.55 and older pass an unknown ``dtype`` on to
    the model's ``__init__``, a TypeError). A version test: both names are swallowed by ``**kwargs``."""
    try:
        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    except ValueError:
        return "dtype"
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def _hf_load(model_config, *, head: str, where: str):
    transformers = transformers_module()
    if transformers is None:
        raise ConfigError(f"{where}.kind", "'hf' needs the transformers package, which is not installed; use kind 'tiny'")
    auto = transformers.AutoModelForCausalLM if head == "lm" else transformers.AutoModelForSequenceClassification
    extra = {} if head == "lm" else {"num_labels": 1}
    dtype = {_dtype_keyword(transformers): DTYPES[model_config.dtype]}
    try:
        if model_config.path:
            return auto.from_pretrained(model_config.path, local_files_only=True,
                                        trust_remote_code=model_config.trust_remote_code, **dtype, **extra)
        raw = dict(model_config.hf_config)
        model_type = raw.pop("model_type", None)
        if not model_type:
            raise ConfigError(f"{where}.hf_config.model_type", "is required to build a model from a config")
        hf_config = transformers.AutoConfig.for_model(model_type, **raw, **extra)
        return auto.from_config(hf_config, trust_remote_code=model_config.trust_remote_code, **dtype)
    except ConfigError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as error:
        field = f"{where}.path" if model_config.path else f"{where}.hf_config"
        raise ConfigError(field, f"cannot build the model: {error}")


def build_core(model_config, *, head: str, tokenizer, where: str = "model") -> Tuple[nn.Module, str]:
    """A fresh core (tiny or hf) and its family name. Seed torch first for a reproducible init."""
    if model_config.kind == "tiny":
        t = model_config.tiny
        vocab = t.vocab_size or tokenizer.vocab_size
        if vocab < tokenizer.vocab_size:
            raise ConfigError(f"{where}.tiny.vocab_size", f"is {vocab} but the tokenizer needs {tokenizer.vocab_size}")
        if t.dim % t.n_heads or (t.dim // t.n_heads) % 2:
            raise ConfigError(f"{where}.tiny.n_heads", "dim / n_heads must be an even integer")
        config = TinyConfig(vocab_size=vocab, dim=t.dim, n_layers=t.n_layers, n_heads=t.n_heads,
                            hidden_dim=t.hidden_dim, max_seq_len=t.max_seq_len, rope_theta=t.rope_theta,
                            norm_eps=t.norm_eps)
        return TinyDecoder(config, head=head).to(DTYPES[model_config.dtype]), "tiny"
    core = _hf_load(model_config, head=head, where=where)
    if head == "score" or getattr(core.config, "pad_token_id", None) is None:
        # sequence classification skips trailing config.pad_token_id tokens: it must be the id the worker pads with,
        # and differ from EOS, the token a reward is read at (the tokenizer makes sure of that for reward models)
        core.config.pad_token_id = tokenizer.pad_token_id
    embeddings = core.get_input_embeddings()
    if embeddings is not None and embeddings.num_embeddings < tokenizer.vocab_size:
        core.resize_token_embeddings(tokenizer.vocab_size)
    for attribute in ("final_logit_softcapping", "logit_scale"):
        if head == "lm" and getattr(core.config, attribute, None) not in (None, 0, 1, 1.0):
            raise ConfigError("efficiency.chunked_log_probs",
                              f"the model applies {attribute}; chunked log-probs assume logits = lm_head(hidden)")
    return core, "hf"


def apply_lora(core: nn.Module, lora_config, *, head: str, family: str) -> Tuple[nn.Module, str]:
    """Wrap the core with LoRA adapters: peft when importable, else the built-in version."""
    peft = peft_module()
    score_module = "score_head" if family == "tiny" else "score"
    if peft is not None:
        kwargs = dict(r=lora_config.r, lora_alpha=lora_config.alpha, lora_dropout=lora_config.dropout,
                      target_modules=list(lora_config.target_modules))
        if family == "hf":
            kwargs["task_type"] = "SEQ_CLS" if head == "score" else "CAUSAL_LM"
        elif head == "score":
            kwargs["modules_to_save"] = [score_module]
        try:
            return peft.get_peft_model(core, peft.LoraConfig(**kwargs)), "peft"
        except ValueError as error:
            raise ConfigError("lora.target_modules", str(error))
    count = builtin_lora.apply_lora(core, r=lora_config.r, alpha=lora_config.alpha, dropout=lora_config.dropout,
                                    target_modules=lora_config.target_modules,
                                    trainable=[score_module] if head == "score" else [])
    if count == 0:
        raise ConfigError("lora.target_modules", f"no Linear module named {list(lora_config.target_modules)}")
    return core, "builtin"


def enable_gradient_checkpointing(model: PreferenceModel) -> None:
    base = model.base()
    if model.family == "tiny":
        base.gradient_checkpointing = True
        return
    try:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    except TypeError:  # older transformers
        base.gradient_checkpointing_enable()
    if hasattr(base, "enable_input_require_grads"):
        base.enable_input_require_grads()


def frozen_copy(model: PreferenceModel) -> PreferenceModel:
    """A frozen deep copy: the reference model when log-probs are not precomputed and there are no adapters."""
    ref = copy.deepcopy(model)
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref.eval()


def count_parameters(model: nn.Module) -> Tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
