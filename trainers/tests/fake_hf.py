"""Fakes with the slice of the transformers model interface the worker uses (no transformers needed).

``FakeCausalLM`` mirrors ``LlamaForCausalLM``: ``model`` backbone returning ``last_hidden_state``,
``lm_head``, ``get_decoder``, ``get_output_embeddings``, ``base_model_prefix`` and a forward that
returns ``.logits``. ``FakeSequenceClassifier`` mirrors ``LlamaForSequenceClassification`` with a
``score`` head. Both wrap the tiny decoder's blocks so results can be compared with it.
``fake_transformers()`` is a stand-in ``transformers`` module (``AutoConfig.for_model``,
``AutoModelFor*.from_config``/``from_pretrained``) that builds them and records the keywords it
was given, with transformers' rule that a keyword it does not consume reaches the model's
``__init__`` and fails there (e.g. ``dtype`` before 4.56, ``torch_dtype`` being the old name).
"""

from types import SimpleNamespace

import torch.nn as nn

from trainers.tiny_model import TinyConfig, TinyDecoder


class _Backbone(nn.Module):
    def __init__(self, decoder: TinyDecoder):
        super().__init__()
        self.decoder = decoder
        self.calls = 0

    def forward(self, input_ids, attention_mask=None, use_cache=None):
        assert use_cache is False
        self.calls += 1
        return SimpleNamespace(last_hidden_state=self.decoder.hidden_states(input_ids, attention_mask))


class FakeCausalLM(nn.Module):
    base_model_prefix = "model"

    def __init__(self, config: TinyConfig):
        super().__init__()
        tiny = TinyDecoder(config, head="lm")
        self.lm_head = tiny.lm_head
        del tiny.lm_head
        self.model = _Backbone(tiny)
        self.gradient_checkpointing_kwargs = None

    def get_decoder(self):
        return self.model

    def get_output_embeddings(self):
        return self.lm_head

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None):
        self.gradient_checkpointing_kwargs = gradient_checkpointing_kwargs
        self.model.decoder.gradient_checkpointing = True

    def forward(self, input_ids, attention_mask=None, use_cache=None):
        hidden = self.model(input_ids, attention_mask, use_cache=use_cache).last_hidden_state
        return SimpleNamespace(logits=self.lm_head(hidden))


class FakeSequenceClassifier(nn.Module):
    base_model_prefix = "model"

    def __init__(self, config: TinyConfig):
        super().__init__()
        tiny = TinyDecoder(config, head="score")
        self.score = tiny.score_head
        nn.init.normal_(self.score.weight)
        del tiny.score_head
        self.model = _Backbone(tiny)


# ------------------------------------------------------------------------------------------------
# a stand-in ``transformers`` module for the worker's loading code (models._hf_load, build_core)


class FakeConfig(SimpleNamespace):
    """The attributes of a transformers config the worker and the fakes read."""

    def __init__(self, model_type: str, **kwargs):
        kwargs.setdefault("pad_token_id", None)
        kwargs.setdefault("num_labels", 2)
        attn = kwargs.pop("attn_implementation", None)
        super().__init__(model_type=model_type, **kwargs)
        self._attn_implementation = attn


def _tiny_config(config: FakeConfig) -> TinyConfig:
    return TinyConfig(vocab_size=config.vocab_size, dim=config.hidden_size, n_layers=config.num_hidden_layers,
                      n_heads=config.num_attention_heads, hidden_dim=getattr(config, "intermediate_size", None),
                      max_seq_len=getattr(config, "max_position_embeddings", 2048))


def _version_at_least(version: str, major: int, minor: int) -> bool:
    parts = version.split(".")
    return (int(parts[0]), int(parts[1])) >= (major, minor)


def fake_transformers(version: str = "4.57.0"):
    """A module with ``__version__``, ``AutoConfig.for_model`` and the two ``AutoModelFor*`` classes.

    Like transformers, ``from_config``/``from_pretrained`` pass keywords they do not consume on to
    the model's ``__init__``, so a keyword this version does not know (``dtype`` before 4.56) raises
    TypeError there. Every call is recorded in ``module.calls`` as (name, args, kwargs).
    """
    import types

    module = types.ModuleType("transformers")
    module.__version__ = version
    module.calls = []
    dtype_keyword = "dtype" if _version_at_least(version, 4, 56) else "torch_dtype"

    class AutoConfig:
        @classmethod
        def for_model(cls, model_type, *args, **kwargs):
            module.calls.append(("AutoConfig.for_model", (model_type,) + args, dict(kwargs)))
            return FakeConfig(model_type, **kwargs)

    def auto_class(name: str, build):
        class Auto:
            @classmethod
            def _build(cls, config, kwargs):
                kwargs = dict(kwargs)
                kwargs.pop("trust_remote_code", None)
                dtype = kwargs.pop(dtype_keyword, None)
                attn = kwargs.pop("attn_implementation", None)
                if attn is not None:
                    config._attn_implementation = attn
                if kwargs:  # what transformers hands to the model's __init__, which takes only the config
                    raise TypeError(f"__init__() got an unexpected keyword argument {sorted(kwargs)[0]!r}")
                model = build(config)
                return model.to(dtype) if dtype is not None else model

            @classmethod
            def from_config(cls, config, **kwargs):
                module.calls.append((f"{name}.from_config", (config,), dict(kwargs)))
                return cls._build(config, kwargs)

            @classmethod
            def from_pretrained(cls, path, **kwargs):
                module.calls.append((f"{name}.from_pretrained", (path,), dict(kwargs)))
                kwargs = dict(kwargs)
                kwargs.pop("local_files_only", None)
                config = FakeConfig("fake", vocab_size=259, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                                    num_labels=kwargs.pop("num_labels", 2))
                return cls._build(config, kwargs)

        Auto.__name__ = name
        return Auto

    class AutoTokenizer:
        @classmethod
        def from_pretrained(cls, path, **kwargs):
            module.calls.append(("AutoTokenizer.from_pretrained", (path,), dict(kwargs)))
            return FakeTokenizer()

    module.AutoConfig = AutoConfig
    module.AutoTokenizer = AutoTokenizer
    module.AutoModelForCausalLM = auto_class("AutoModelForCausalLM", FakeHFCausalLM)
    module.AutoModelForSequenceClassification = auto_class("AutoModelForSequenceClassification",
                                                           FakeHFSequenceClassifier)
    return module


class _HFSurface:
    """``config``, embeddings and ``save_pretrained`` on top of the fakes above."""

    def get_input_embeddings(self):
        return self.model.decoder.embed_tokens

    def resize_token_embeddings(self, n: int):
        """Like transformers: a bigger embedding keeps the old rows (new ones freshly initialised), and a causal LM's
        output layer grows with it."""
        import torch

        old = self.model.decoder.embed_tokens
        new = nn.Embedding(n, old.embedding_dim, dtype=old.weight.dtype)
        with torch.no_grad():
            new.weight[: old.num_embeddings] = old.weight
        self.model.decoder.embed_tokens = new
        head = getattr(self, "lm_head", None)
        if head is not None:
            grown = nn.Linear(head.in_features, n, bias=False, dtype=head.weight.dtype)
            with torch.no_grad():
                grown.weight[: head.out_features] = head.weight
            self.lm_head = grown
        self.config.vocab_size = n

    def save_pretrained(self, directory: str) -> None:
        import json
        import os

        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as handle:
            json.dump({k: v for k, v in vars(self.config).items() if isinstance(v, (int, float, str, type(None)))},
                      handle)


class FakeHFCausalLM(_HFSurface, FakeCausalLM):
    def __init__(self, config: FakeConfig):
        super().__init__(_tiny_config(config))
        self.config = config


class FakeHFSequenceClassifier(_HFSurface, FakeSequenceClassifier):
    def __init__(self, config: FakeConfig):
        assert config.num_labels == 1, "the reward model needs one label"
        super().__init__(_tiny_config(config))
        self.config = config

    def forward(self, input_ids, attention_mask=None, use_cache=None):
        """transformers' ``LlamaForSequenceClassification`` rule (4.48+): the score of the last token that is not
        ``config.pad_token_id``, whatever the attention mask says; no pad id and a batch of more than one is an error."""
        import torch

        hidden = self.model(input_ids, attention_mask, use_cache=False).last_hidden_state
        logits = self.score(hidden)
        pad = self.config.pad_token_id
        if pad is None:
            if input_ids.shape[0] != 1:
                raise ValueError("Cannot handle batch sizes > 1 if no padding token is defined.")
            last = torch.full((1,), input_ids.shape[1] - 1, dtype=torch.long)
        else:
            non_pad = (input_ids != pad).int()
            last = (torch.arange(input_ids.shape[-1], dtype=torch.int32) * non_pad).argmax(-1)
        return SimpleNamespace(logits=logits[torch.arange(input_ids.shape[0]), last])


class FakeTokenizer:
    """``AutoTokenizer``'s slice the worker uses, over bytes: ids 0-255, bos 257, eos 258 and no pad token (like
    Llama's); ``add_special_tokens({"pad_token": ...})`` appends one."""

    chat_template = None

    def __init__(self):
        self.bos_token_id, self.eos_token_id, self.pad_token_id = 257, 258, None
        self.added = []

    def __len__(self):
        return 259 + len(self.added)

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": list(text.encode("utf-8"))}

    def add_special_tokens(self, tokens):
        self.added.append(tokens["pad_token"])
        self.pad_token_id = 258 + len(self.added)
        return 1

    def decode(self, ids):
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def save_pretrained(self, directory):
        import json
        import os

        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "tokenizer_config.json"), "w", encoding="utf-8") as handle:
            json.dump({"pad_token_id": self.pad_token_id, "added": self.added}, handle)
