"""Sampling: KV-cache equivalence, seeded reproducibility, top-p, EOS stop, and the generate command end to end."""

from __future__ import annotations

import io
import json
import os
import tempfile
import unittest

import torch

from trainers import cli
from trainers.generate import SamplingConfig, Sampler, filter_top_p, sample_prompt
from trainers.tiny_model import TinyConfig, TinyDecoder
from trainers.tokenizer import ByteTokenizer


def tiny(seed: int = 0) -> TinyDecoder:
    torch.manual_seed(seed)
    return TinyDecoder(TinyConfig(vocab_size=259, dim=32, n_layers=2, n_heads=4, max_seq_len=256)).eval()


def sampler_for(model: TinyDecoder, eos=258) -> Sampler:
    return Sampler(model, "tiny", eos_token_id=eos, pad_token_id=256, device=torch.device("cpu"), max_seq_len=256)


PROMPT = [257] + list(b"Q: why is the sky blue?\nA:")


class KVCacheTest(unittest.TestCase):
    def test_cached_logits_match_the_full_forward(self):
        model = tiny()
        ids = torch.tensor([PROMPT, PROMPT[::-1]])
        with torch.no_grad():
            full = model(ids)
            cache = model.new_cache(batch=2, capacity=ids.shape[1])
            prefix = model.forward_cached(ids[:, :10], cache)
            steps = [model.forward_cached(ids[:, t:t + 1], cache) for t in range(10, ids.shape[1])]
        cached = torch.cat([prefix, *steps], dim=1)
        self.assertEqual(cache.length, ids.shape[1])
        self.assertTrue(torch.allclose(cached, full, atol=1e-5), (cached - full).abs().max())

    def test_cached_and_uncached_sampling_give_identical_tokens(self):
        model = tiny(1)
        for seed in range(4):
            settings = SamplingConfig(n=4, temperature=1.0, max_new_tokens=24, seed=seed, use_cache=True)
            cached = sampler_for(model, eos=None).sample(PROMPT, rows=4, settings=settings, seed=seed)
            uncached = sampler_for(model, eos=None).sample(
                PROMPT, rows=4, settings=SamplingConfig(n=4, max_new_tokens=24, seed=seed, use_cache=False), seed=seed)
            self.assertEqual([s["ids"] for s in cached], [s["ids"] for s in uncached])
            for a, b in zip(cached, uncached):
                self.assertAlmostEqual(a["logprob"], b["logprob"], places=3)

    def test_the_cache_refuses_more_positions_than_its_capacity(self):
        model = tiny()
        cache = model.new_cache(batch=1, capacity=4)
        with self.assertRaises(ValueError):
            model.forward_cached(torch.tensor([[1, 2, 3, 4, 5]]), cache)


class SamplingTest(unittest.TestCase):
    def test_same_seed_same_samples_other_seed_other_samples(self):
        model = tiny()
        tok = ByteTokenizer()
        settings = SamplingConfig(n=6, max_new_tokens=16, seed=3, batch_size=4)
        first = sample_prompt(sampler_for(model), tok, "p1", PROMPT, settings)
        again = sample_prompt(sampler_for(model), tok, "p1", PROMPT, settings)
        other = sample_prompt(sampler_for(model), tok, "p1", PROMPT, SamplingConfig(n=6, max_new_tokens=16, seed=4, batch_size=4))
        self.assertEqual(first, again)
        self.assertNotEqual([s["text"] for s in first], [s["text"] for s in other])
        self.assertEqual([s["index"] for s in first], list(range(6)))
        # a random tiny model spreads mass over 259 tokens: samples of one prompt differ
        self.assertGreater(len({s["text"] for s in first}), 1)

    def test_another_prompt_id_draws_other_samples(self):
        model = tiny()
        settings = SamplingConfig(n=3, max_new_tokens=12, seed=0)
        a = sample_prompt(sampler_for(model), ByteTokenizer(), "a", PROMPT, settings)
        b = sample_prompt(sampler_for(model), ByteTokenizer(), "b", PROMPT, settings)
        self.assertNotEqual([s["text"] for s in a], [s["text"] for s in b])

    def test_logprob_is_the_sum_of_token_logprobs_under_the_policy(self):
        model = tiny()
        settings = SamplingConfig(n=2, temperature=0.7, top_p=0.9, max_new_tokens=10, seed=5)
        samples = sampler_for(model, eos=None).sample(PROMPT, rows=2, settings=settings, seed=5)
        for sample in samples:
            ids = torch.tensor([PROMPT + sample["ids"]])
            with torch.no_grad():
                logp = torch.log_softmax(model(ids)[0, :-1].float(), dim=-1)
            targets = ids[0, 1:]
            expected = logp.gather(-1, targets[:, None]).squeeze(-1)[len(PROMPT) - 1:].sum().item()
            self.assertAlmostEqual(sample["logprob"], expected, places=3)
            self.assertEqual(len(sample["ids"]), 10)
            self.assertEqual(sample["finish"], "length")

    def test_greedy_is_deterministic_across_seeds(self):
        model = tiny()
        a = sampler_for(model).sample(PROMPT, rows=2, settings=SamplingConfig(temperature=0.0, max_new_tokens=8), seed=1)
        b = sampler_for(model).sample(PROMPT, rows=2, settings=SamplingConfig(temperature=0.0, max_new_tokens=8), seed=2)
        self.assertEqual(a, b)
        self.assertEqual(a[0]["ids"], a[1]["ids"])

    def test_top_p_keeps_the_smallest_nucleus(self):
        probs = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
        kept = filter_top_p(probs, 0.7)
        self.assertTrue(torch.allclose(kept, torch.tensor([[0.625, 0.375, 0.0, 0.0]])))
        self.assertTrue(torch.allclose(filter_top_p(probs, 0.5), torch.tensor([[1.0, 0.0, 0.0, 0.0]])))
        self.assertTrue(torch.equal(filter_top_p(probs, 1.0), probs))
        # a tiny top_p still keeps the most likely token
        self.assertTrue(torch.allclose(filter_top_p(probs, 0.01), torch.tensor([[1.0, 0.0, 0.0, 0.0]])))

    def test_top_p_sampling_draws_only_from_the_nucleus(self):
        model = tiny()
        settings = SamplingConfig(n=16, temperature=1.0, top_p=0.05, max_new_tokens=4, seed=0)
        drawn = sampler_for(model).sample(PROMPT, rows=16, settings=settings, seed=0)
        # the nucleus of a near-uniform random model at p=0.05 is a handful of tokens, never all 259
        first_tokens = {s["ids"][0] for s in drawn}
        self.assertLess(len(first_tokens), 16)

    def test_eos_stops_a_sample_and_is_not_part_of_its_text(self):
        model = tiny()
        # call the token greedy decoding picks first "EOS": every greedy sample then stops at once
        greedy_first = sampler_for(model, eos=None).sample(PROMPT, rows=1, settings=SamplingConfig(temperature=0.0, max_new_tokens=1), seed=0)
        eos = greedy_first[0]["ids"][0]
        samples = sampler_for(model, eos=eos).sample(PROMPT, rows=3, settings=SamplingConfig(temperature=0.0, max_new_tokens=8), seed=0)
        for sample in samples:
            self.assertEqual(sample["ids"], [])
            self.assertEqual(sample["finish"], "stop")
            self.assertLess(sample["logprob"], 0.0)


class ReferenceScoringTest(unittest.TestCase):
    def scorer(self, model):
        from trainers.generate import Scorer
        from trainers.models import PreferenceModel

        return Scorer(PreferenceModel(model, head="lm", family="tiny"), pad_token_id=256, device=torch.device("cpu"),
                      batch_size=2)

    def test_the_policy_scored_as_its_own_reference_gives_its_sampling_logprobs(self):
        model = tiny()
        settings = SamplingConfig(n=3, max_new_tokens=9, seed=4)
        samples = sample_prompt(sampler_for(model, eos=None), ByteTokenizer(), "p", PROMPT, settings, self.scorer(model))
        for sample in samples:
            self.assertAlmostEqual(sample["ref_logprob"], sample["logprob"], places=3)

    def test_the_eos_that_ended_a_sample_is_scored_too(self):
        model = tiny()
        first = sampler_for(model, eos=None).sample(PROMPT, rows=1, settings=SamplingConfig(temperature=0.0, max_new_tokens=1), seed=0)
        eos = first[0]["ids"][0]
        samples = sample_prompt(sampler_for(model, eos=eos), ByteTokenizer(), "p", PROMPT,
                                SamplingConfig(n=2, temperature=0.0, max_new_tokens=5), self.scorer(model))
        for sample in samples:
            self.assertEqual(sample["finish"], "stop")
            self.assertLess(sample["logprob"], 0.0)
            self.assertAlmostEqual(sample["ref_logprob"], sample["logprob"], places=3)

    def test_another_reference_scores_differently(self):
        samples = sample_prompt(sampler_for(tiny(0), eos=None), ByteTokenizer(), "p", PROMPT,
                                SamplingConfig(n=2, max_new_tokens=6), self.scorer(tiny(1)))
        for sample in samples:
            self.assertNotAlmostEqual(sample["ref_logprob"], sample["logprob"], places=3)


class GenerateCommandTest(unittest.TestCase):
    def run_command(self, config: dict) -> list:
        with tempfile.TemporaryDirectory() as tmp:
            prompts = os.path.join(tmp, "prompts.jsonl")
            with open(prompts, "w", encoding="utf-8") as handle:
                handle.write(json.dumps({"id": "a", "prompt": "Q: 2+2?\nA:"}) + "\n")
                handle.write(json.dumps({"id": "b", "prompt": [{"role": "user", "content": "hi"}]}) + "\n")
            path = os.path.join(tmp, "config.json")
            with open(path, "w", encoding="utf-8") as handle:
                json.dump({"prompts": prompts, **config}, handle)
            out = io.StringIO()
            code = cli.main(["generate", "--config", path], event_out=out)
            events = [json.loads(line) for line in out.getvalue().splitlines()]
            return [code, events]

    def test_emits_start_one_sample_event_per_prompt_and_done(self):
        code, events = self.run_command({"model": {"kind": "tiny", "tiny": {"dim": 32, "n_layers": 1, "max_seq_len": 256}},
                                         "device": "cpu", "sampling": {"n": 3, "max_new_tokens": 8, "seed": 1}})
        self.assertEqual(code, 0, events)
        self.assertEqual([e["type"] for e in events], ["start", "sample", "sample", "done"])
        self.assertEqual(events[0]["command"], "generate")
        self.assertEqual([e["id"] for e in events[1:3]], ["a", "b"])
        for event in events[1:3]:
            self.assertEqual(len(event["samples"]), 3)
            for sample in event["samples"]:
                self.assertLessEqual(sample["tokens"], 8)
                self.assertIsInstance(sample["logprob"], float)
        self.assertEqual(events[-1]["status"], "completed")

    def test_a_reference_policy_scores_every_sample(self):
        model = {"kind": "tiny", "tiny": {"dim": 32, "n_layers": 1, "max_seq_len": 256}}
        code, events = self.run_command({"model": model, "device": "cpu", "sampling": {"n": 2, "max_new_tokens": 6},
                                         "reference": {"model": model, "seed": 0}})
        self.assertEqual(code, 0, events)
        self.assertEqual(events[0]["reference"], {"checkpoint": None})
        for event in events[1:3]:
            for sample in event["samples"]:
                # the same init seed and no checkpoint: the reference is the policy itself
                self.assertAlmostEqual(sample["ref_logprob"], sample["logprob"], places=3)

    def test_a_bad_config_is_an_error_event(self):
        code, events = self.run_command({"sampling": {"top_p": 0}})
        self.assertEqual(code, 2)
        self.assertEqual(events[-1]["type"], "error")
        self.assertIn("sampling.top_p", events[-1]["message"])


class HuggingFaceSamplingTest(unittest.TestCase):
    """The sampler's Hugging Face path (``past_key_values`` or full recomputation) against the tiny decoder's."""

    def test_hf_paths_draw_the_tiny_decoder_s_tokens(self):
        from types import SimpleNamespace

        from trainers.tests.fake_hf import FakeCausalLM

        torch.manual_seed(0)
        hf = FakeCausalLM(TinyConfig(vocab_size=259, dim=32, n_layers=2, n_heads=4, max_seq_len=256)).eval()
        tiny = hf.model.decoder
        tiny.lm_head = hf.lm_head

        class CachingLM(torch.nn.Module):
            """HF's cache interface (new ids + past in, logits of the new ids + past out); the 'cache' is the ids."""

            def __init__(self):
                super().__init__()
                self.inner = hf
                self.cached_calls = 0

            def forward(self, input_ids, past_key_values=None, use_cache=None):
                assert use_cache is True
                ids = input_ids if past_key_values is None else torch.cat([past_key_values, input_ids], dim=1)
                self.cached_calls += past_key_values is not None
                logits = self.inner(ids, use_cache=False).logits[:, -input_ids.shape[1]:]
                return SimpleNamespace(logits=logits, past_key_values=ids)

        settings = SamplingConfig(n=3, max_new_tokens=10, seed=2)
        expected = sampler_for(tiny, eos=None).sample(PROMPT, rows=3, settings=settings, seed=2)
        uncached = Sampler(hf, "hf", eos_token_id=None, pad_token_id=256, device=torch.device("cpu"), max_seq_len=None).sample(
            PROMPT, rows=3, settings=SamplingConfig(n=3, max_new_tokens=10, seed=2, use_cache=False), seed=2)
        caching = CachingLM()
        cached = Sampler(caching, "hf", eos_token_id=None, pad_token_id=256, device=torch.device("cpu"), max_seq_len=None).sample(
            PROMPT, rows=3, settings=settings, seed=2)
        self.assertEqual([s["ids"] for s in uncached], [s["ids"] for s in expected])
        self.assertEqual([s["ids"] for s in cached], [s["ids"] for s in expected])
        self.assertEqual(caching.cached_calls, 9)  # every step after the prompt went through the cache


class CheckpointPolicyTest(unittest.TestCase):
    """A dpo run's checkpoint is rebuilt as training built it (seed, LoRA) and its trained weights are sampled."""

    def train_and_generate(self, lora):
        from trainers.generate import GenerateConfig, run_generate
        from trainers.config import _parse_section
        from trainers.protocol import EventStream
        from trainers.tests.helpers import run_in_process, synthetic_rows, tiny_config, write_jsonl

        with tempfile.TemporaryDirectory() as tmp:
            train = write_jsonl(os.path.join(tmp, "pairs.jsonl"), synthetic_rows(32, seed=0))
            overrides = {"training": {"max_steps": 3, "learning_rate": 5e-2}}
            if lora:
                overrides["lora"] = {"r": 4, "alpha": 8}
            config = tiny_config(tmp, train=train, **overrides)
            code, _ = run_in_process(config, "dpo", tmp)
            self.assertEqual(code, 0)
            prompts = write_jsonl(os.path.join(tmp, "prompts.jsonl"), [{"id": "p", "prompt": "Q: abc?\nA:"}])
            checkpoints = os.path.join(config["run_dir"], "checkpoints")
            latest = os.path.join(checkpoints, sorted(os.listdir(checkpoints))[-1])
            results = {}
            for name, checkpoint in (("trained", latest), ("initial", None)):
                raw = {"prompts": prompts, "model": config["model"], "seed": 0, "device": "cpu",
                       "checkpoint": checkpoint, "sampling": {"n": 2, "max_new_tokens": 6, "temperature": 0.0}}
                if lora:
                    raw["lora"] = config["lora"]
                events = EventStream(None)
                self.assertEqual(run_generate(_parse_section(GenerateConfig, raw, "", tmp), events), 0)
                results[name] = [e for e in events.history if e["type"] == "sample"][0]["samples"]
            return results

    def test_full_checkpoint_changes_the_policy(self):
        results = self.train_and_generate(lora=False)
        self.assertNotEqual(results["trained"][0]["logprob"], results["initial"][0]["logprob"])

    def test_lora_checkpoint_changes_the_policy(self):
        results = self.train_and_generate(lora=True)
        self.assertNotEqual(results["trained"][0]["logprob"], results["initial"][0]["logprob"])


if __name__ == "__main__":
    unittest.main()
