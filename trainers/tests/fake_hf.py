"""Fakes with the slice of the transformers model interface the worker uses (no transformers needed).

``FakeCausalLM`` mirrors ``LlamaForCausalLM``: ``model`` backbone returning ``last_hidden_state``,
``lm_head``, ``get_decoder``, ``get_output_embeddings``, ``base_model_prefix`` and a forward that
returns ``.logits``. ``FakeSequenceClassifier`` mirrors ``LlamaForSequenceClassification`` with a
``score`` head. Both wrap the tiny decoder's blocks so results can be compared with it.
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
