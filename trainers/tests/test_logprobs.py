"""Chunked completion log-probs equal the naive ones; one concatenated forward equals two."""

import unittest

import torch

from trainers.batching import IGNORE_INDEX, Example, collate_pairs
from trainers.logprobs import completion_logps, completion_logps_from_logits
from trainers.models import PreferenceModel
from trainers.tiny_model import TinyConfig, TinyDecoder
from trainers.lora import apply_lora

TINY = TinyConfig(vocab_size=40, dim=16, n_layers=2, n_heads=2, max_seq_len=32)


def _labels(input_ids: torch.Tensor) -> torch.Tensor:
    labels = input_ids.clone()
    labels[:, :3] = IGNORE_INDEX  # prompt
    labels[1, 8:] = IGNORE_INDEX  # padding of a shorter row
    labels[2, :] = IGNORE_INDEX  # a row without completion tokens
    return labels


class ChunkedLogProbsTest(unittest.TestCase):
    def setUp(self):
        torch.manual_seed(0)
        self.hidden = torch.randn(3, 11, 8, dtype=torch.float64, requires_grad=True)
        self.head = torch.nn.Linear(8, 40, bias=True).double()
        self.labels = _labels(torch.randint(0, 40, (3, 11)))

    def naive(self):
        return completion_logps_from_logits(self.head(self.hidden), self.labels)

    def test_values_and_counts(self):
        want, want_counts = self.naive()
        for chunk in (1, 3, 7, 1000):
            got, counts = completion_logps(self.hidden, self.labels, self.head.weight, self.head.bias, chunk_size=chunk)
            self.assertTrue(torch.allclose(got, want, atol=1e-12), (chunk, got, want))
            self.assertEqual(counts.tolist(), want_counts.tolist())
        self.assertEqual(want_counts.tolist(), [8, 5, 0])  # positions 3..10 and 3..7
        self.assertEqual(want[2].item(), 0.0)

    def test_mean_logits_for_trl_logits_metrics(self):
        # TRL's logits/chosen: the mean logit over completion tokens and the vocabulary
        logits = self.head(self.hidden).detach()
        selected = self.labels[:, 1:] != IGNORE_INDEX
        want = (logits[:, :-1].mean(dim=-1) * selected).sum(dim=1)
        _, _, naive = completion_logps_from_logits(self.head(self.hidden), self.labels, with_logits=True)
        self.assertTrue(torch.allclose(naive, want, atol=1e-12))
        for chunk in (1, 3, 1000):
            got, counts, sums = completion_logps(self.hidden, self.labels, self.head.weight, self.head.bias,
                                                 chunk_size=chunk, with_logits=True)
            self.assertTrue(torch.allclose(sums, want, atol=1e-12), chunk)
            self.assertTrue(torch.allclose(got, self.naive()[0], atol=1e-12))
        # the logps keep their gradients; the logit sums carry none
        got, _, sums = completion_logps(self.hidden, self.labels, self.head.weight, self.head.bias, chunk_size=3,
                                        with_logits=True)
        self.assertTrue(got.requires_grad)
        self.assertFalse(sums.requires_grad)

    def test_gradients(self):
        weights = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64)
        want, _ = self.naive()
        want_grads = torch.autograd.grad((want * weights).sum(), [self.hidden, self.head.weight, self.head.bias])
        got, _ = completion_logps(self.hidden, self.labels, self.head.weight, self.head.bias, chunk_size=3)
        got_grads = torch.autograd.grad((got * weights).sum(), [self.hidden, self.head.weight, self.head.bias])
        for g, w in zip(got_grads, want_grads):
            self.assertTrue(torch.allclose(g, w, atol=1e-12))

    def test_matches_a_hand_computed_log_softmax(self):
        hidden = torch.zeros(1, 2, 8, dtype=torch.float64)  # zero states -> logits = bias
        head = torch.nn.Linear(8, 3).double()
        with torch.no_grad():
            head.bias.copy_(torch.tensor([0.0, 1.0, 2.0]))
        labels = torch.tensor([[IGNORE_INDEX, 2]])
        got, counts = completion_logps(hidden, labels, head.weight, head.bias, chunk_size=1)
        import math
        self.assertAlmostEqual(got.item(), 2.0 - math.log(1 + math.e + math.e ** 2), places=12)
        self.assertEqual(counts.item(), 1)


def _examples():
    g = torch.Generator().manual_seed(3)

    def ids(n):
        return torch.randint(0, 38, (n,), generator=g).tolist()

    return [Example(index=0, prompt_ids=ids(4), chosen_ids=ids(6), rejected_ids=ids(9), margin=0.0, chosen_tokens=6, rejected_tokens=9),
            Example(index=1, prompt_ids=ids(2), chosen_ids=ids(3), rejected_ids=ids(2), margin=0.0, chosen_tokens=3, rejected_tokens=2),
            Example(index=2, prompt_ids=ids(7), chosen_ids=ids(5), rejected_ids=ids(5), margin=0.0, chosen_tokens=5, rejected_tokens=5)]


class ConcatenatedForwardTest(unittest.TestCase):
    def _compare(self, model: PreferenceModel, atol: float):
        examples = _examples()
        concat = collate_pairs(examples, pad_token_id=39, concatenated=True)
        separate = collate_pairs(examples, pad_token_id=39, concatenated=False)
        n = len(examples)
        out = model(**concat["concatenated"])
        oc, orj = model(**separate["chosen"]), model(**separate["rejected"])
        if isinstance(out, tuple):
            together = torch.cat([out[0][:n], out[0][n:]])
            apart = torch.cat([oc[0], orj[0]])
            self.assertEqual(out[1].tolist(), torch.cat([oc[1], orj[1]]).tolist())
        else:
            together, apart = torch.cat([out[:n], out[n:]]), torch.cat([oc, orj])
        self.assertTrue(torch.allclose(together, apart, atol=atol), (together, apart))
        grads_together = torch.autograd.grad(together.sum(), [p for p in model.parameters() if p.requires_grad])
        out = model(**separate["chosen"]), model(**separate["rejected"])
        apart = torch.cat([o[0] if isinstance(o, tuple) else o for o in out])
        grads_apart = torch.autograd.grad(apart.sum(), [p for p in model.parameters() if p.requires_grad])
        for a, b in zip(grads_together, grads_apart):
            self.assertTrue(torch.allclose(a, b, atol=atol * 10))

    def test_policy_log_probs(self):
        torch.manual_seed(0)
        self._compare(PreferenceModel(TinyDecoder(TINY, head="lm").double(), head="lm", family="tiny", chunk_size=4), 1e-10)

    def test_policy_log_probs_float32(self):
        torch.manual_seed(0)
        self._compare(PreferenceModel(TinyDecoder(TINY, head="lm"), head="lm", family="tiny", chunk_size=4), 1e-4)

    def test_reward_scores(self):
        torch.manual_seed(0)
        core = TinyDecoder(TINY, head="score").double()
        torch.nn.init.normal_(core.score_head.weight)  # zero at init: make it informative
        self._compare(PreferenceModel(core, head="score", family="tiny"), 1e-10)

    def test_chunked_model_equals_full_logits_model(self):
        torch.manual_seed(0)
        model = PreferenceModel(TinyDecoder(TINY, head="lm").double(), head="lm", family="tiny", chunk_size=5)
        block = collate_pairs(_examples(), pad_token_id=39, concatenated=True)["concatenated"]
        chunked, _ = model(**block)
        model.chunked = False
        full, _ = model(**block)
        self.assertTrue(torch.allclose(chunked, full, atol=1e-10))

    def test_gradient_checkpointing_gives_same_gradients(self):
        torch.manual_seed(0)
        model = PreferenceModel(TinyDecoder(TINY, head="lm").double(), head="lm", family="tiny", chunk_size=5)
        block = collate_pairs(_examples(), pad_token_id=39, concatenated=True)["concatenated"]
        plain = torch.autograd.grad(model(**block)[0].sum(), list(model.parameters()))
        model.base().gradient_checkpointing = True
        checkpointed = torch.autograd.grad(model(**block)[0].sum(), list(model.parameters()))
        for a, b in zip(plain, checkpointed):
            self.assertTrue(torch.allclose(a, b, atol=1e-10))


class BuiltinLoraTest(unittest.TestCase):
    def test_adapters_start_as_identity_and_can_be_disabled(self):
        torch.manual_seed(0)
        core = TinyDecoder(TINY, head="lm").double()
        block = collate_pairs(_examples(), pad_token_id=39, concatenated=True)["concatenated"]
        before = PreferenceModel(core, head="lm", family="tiny")(**block)[0].detach()
        self.assertEqual(apply_lora(core, r=2, alpha=4, dropout=0.0, target_modules=["q_proj", "v_proj"]), 4)
        model = PreferenceModel(core, head="lm", family="tiny")
        self.assertTrue(model.has_adapters())
        self.assertTrue(torch.allclose(model(**block)[0], before, atol=1e-12))
        trainable = [n for n, p in model.named_parameters() if p.requires_grad]
        self.assertTrue(trainable and all("lora_" in n for n in trainable))
        with torch.no_grad():
            for n, p in model.named_parameters():
                if n.endswith("lora_B"):
                    p.add_(0.5)
        self.assertFalse(torch.allclose(model(**block)[0], before, atol=1e-6))
        with model.adapters_disabled():
            self.assertTrue(torch.allclose(model(**block)[0], before, atol=1e-12))


if __name__ == "__main__":
    unittest.main()


class HuggingFaceShapedModelTest(unittest.TestCase):
    """The ``hf`` family code paths, run against fakes of the transformers interface."""

    def test_causal_lm_chunked_equals_full_logits_and_tiny(self):
        from .fake_hf import FakeCausalLM

        torch.manual_seed(0)
        fake = FakeCausalLM(TINY).double()
        model = PreferenceModel(fake, head="lm", family="hf", chunk_size=4)
        block = collate_pairs(_examples(), pad_token_id=39, concatenated=True)["concatenated"]
        chunked, counts = model(**block)
        self.assertGreater(fake.model.calls, 0)
        model.chunked = False
        full, full_counts = model(**block)
        self.assertTrue(torch.allclose(chunked, full, atol=1e-10))
        self.assertEqual(counts.tolist(), full_counts.tolist())

    def test_sequence_classifier_reads_the_last_real_token(self):
        from .fake_hf import FakeSequenceClassifier

        torch.manual_seed(0)
        fake = FakeSequenceClassifier(TINY).double()
        model = PreferenceModel(fake, head="score", family="hf")
        separate = collate_pairs(_examples(), pad_token_id=39, concatenated=False)
        block = separate["chosen"]
        scores = model(**block)
        hidden = fake.model.decoder.hidden_states(block["input_ids"], block["attention_mask"])
        last = block["attention_mask"].sum(1) - 1
        want = fake.score(hidden[torch.arange(3), last]).squeeze(-1)
        self.assertTrue(torch.allclose(scores, want, atol=1e-12))
        self._concat_equals_separate(model)

    def _concat_equals_separate(self, model):
        examples = _examples()
        concat = collate_pairs(examples, pad_token_id=39, concatenated=True)["concatenated"]
        separate = collate_pairs(examples, pad_token_id=39, concatenated=False)
        together = model(**concat)
        apart = torch.cat([model(**separate["chosen"]), model(**separate["rejected"])])
        self.assertTrue(torch.allclose(together, apart, atol=1e-10))

    def test_gradient_checkpointing_uses_the_non_reentrant_hf_switch(self):
        from trainers.models import enable_gradient_checkpointing

        from .fake_hf import FakeCausalLM

        fake = FakeCausalLM(TINY)
        enable_gradient_checkpointing(PreferenceModel(fake, head="lm", family="hf"))
        self.assertEqual(fake.gradient_checkpointing_kwargs, {"use_reentrant": False})


class PaddingTest(unittest.TestCase):
    def test_left_padding_gives_the_same_states_as_no_padding(self):
        torch.manual_seed(0)
        tiny = TinyDecoder(TINY).double()
        ids = torch.randint(0, 39, (1, 6))
        plain = tiny.hidden_states(ids, torch.ones_like(ids))
        padded_ids = torch.cat([torch.full((1, 3), 39), ids], dim=1)
        mask = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1, 1]])
        # RoPE is relative, so shifting every real token by 3 positions leaves attention unchanged
        padded = tiny.hidden_states(padded_ids, mask)
        self.assertTrue(torch.allclose(padded[:, 3:], plain, atol=1e-10))

    def test_right_padding_needs_no_mask(self):
        torch.manual_seed(0)
        tiny = TinyDecoder(TINY).double()
        ids = torch.randint(0, 39, (2, 7))
        mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
        masked = tiny.hidden_states(ids, mask)
        self.assertTrue(torch.allclose(masked[1, :4], tiny.hidden_states(ids[1:, :4])[0], atol=1e-10))
