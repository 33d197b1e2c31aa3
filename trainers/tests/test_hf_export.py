"""Reward models and DPO policies exported to ``RUN_DIR/final`` score exactly as the worker scored them.

Hugging Face sequence classification reads the score at the last token that is not ``config.pad_token_id``; the
worker reads it at the last attended token, the EOS it appends. With pad = EOS (a tokenizer without a pad token)
the two differ. The CPU tests use the stand-in ``transformers`` of fake_hf (which implements that rule); the
round-trip tests load the export with the real ``transformers`` and are skipped where it is not installed (the
GPU machine's ``bench/gpu/run-device.sh`` runs them: it runs this whole suite).
"""

import json
import os
import sys
import unittest
from unittest import mock

import torch

from trainers.batching import collate_pairs, tokenize_pairs
from trainers.compat import transformers_module
from trainers.config import parse_config
from trainers.data import read_pairs
from trainers.lora import apply_lora, merge_builtin_lora
from trainers.models import PreferenceModel, build_core
from trainers.tiny_model import TinyConfig, TinyDecoder
from trainers.tokenizer import build_tokenizer

from .fake_hf import fake_transformers
from .helpers import TempDirTestCase, run_in_process, synthetic_rows, tiny_config, write_jsonl

SMALL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
         "intermediate_size": 64, "max_position_embeddings": 128, "rms_norm_eps": 1e-6}
HAS_TRANSFORMERS = transformers_module() is not None
NO_TRANSFORMERS = "transformers is not installed here (no PyPI or Debian package on this machine); " \
                  "bench/gpu/run-device.sh runs this test on the GPU machine"


class PadTokenTest(TempDirTestCase):
    """With the fake transformers: the pad handling that makes HF's rule pick the worker's token."""

    def _scores(self, *, distinct_pad):
        module = fake_transformers("5.0.0")
        train = write_jsonl(os.path.join(self.tmp, "p.jsonl"), synthetic_rows(6, seed=3))
        raw = tiny_config(self.tmp, train=train, tokenizer={"kind": "hf", "path": self.tmp})
        raw["model"] = {"kind": "hf", "hf_config": {"model_type": "llama", "vocab_size": 259, **SMALL}}
        with mock.patch.dict(sys.modules, {"transformers": module}):
            config = parse_config(raw, base_dir=self.tmp, task="rm")
            tokenizer = build_tokenizer(config.tokenizer, config.model, distinct_pad=distinct_pad)
            torch.manual_seed(0)
            core, family = build_core(config.model, head="score", tokenizer=tokenizer)
        examples, _ = tokenize_pairs(read_pairs(train), tokenizer, max_length=64, max_prompt_length=24)
        batch = collate_pairs(examples, tokenizer.pad_token_id, concatenated=True)["concatenated"]
        with torch.no_grad():
            worker = PreferenceModel(core, head="score", family=family)(batch["input_ids"], batch["attention_mask"])
            hf = core(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.squeeze(-1)
        return tokenizer, core, worker, hf

    def test_a_reward_model_pads_with_a_token_of_its_own_so_hf_scores_its_eos(self):
        tokenizer, core, worker, hf = self._scores(distinct_pad=True)
        self.assertTrue(tokenizer.added_pad)
        self.assertEqual((tokenizer.pad_token_id, tokenizer.vocab_size, core.config.pad_token_id), (259, 260, 259))
        self.assertNotEqual(tokenizer.pad_token_id, tokenizer.eos_token_id)
        self.assertEqual(core.get_input_embeddings().num_embeddings, 260)
        torch.testing.assert_close(hf, worker, rtol=0, atol=1e-6)

    def test_with_pad_equal_to_eos_hf_would_score_another_token(self):
        # the defect: the tokenizer's fallback pad = EOS, so HF skips the EOS the worker scored
        tokenizer, _, worker, hf = self._scores(distinct_pad=False)
        self.assertEqual(tokenizer.pad_token_id, tokenizer.eos_token_id)
        self.assertGreater(float((hf - worker).abs().max()), 1e-3)


class BuiltinLoraMergeTest(unittest.TestCase):
    def test_merged_weights_compute_what_the_adapters_computed(self):
        torch.manual_seed(0)
        model = TinyDecoder(TinyConfig(vocab_size=40, dim=16, n_layers=2, n_heads=2), head="lm")
        self.assertEqual(apply_lora(model, r=4, alpha=8, dropout=0.0, target_modules=["q_proj", "v_proj"]), 4)
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(parameter)  # trained adapters: B is no longer 0
        ids = torch.randint(0, 40, (3, 7))
        with torch.no_grad():
            before = model(ids, torch.ones_like(ids))
            self.assertEqual(merge_builtin_lora(model), 4)
            after = model(ids, torch.ones_like(ids))
        self.assertFalse(any("lora" in name for name, _ in model.named_parameters()))
        torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)


@unittest.skipUnless(HAS_TRANSFORMERS, NO_TRANSFORMERS)
class RealTransformersRoundTripTest(TempDirTestCase):
    """Train with the worker, load RUN_DIR/final with transformers, compare scores to the worker's (1e-4)."""

    def _byte_level_tokenizer(self) -> str:
        """A real fast tokenizer over bytes with BOS and EOS and no pad token (like Llama's), saved to a folder."""
        import transformers
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers

        alphabet = pre_tokenizers.ByteLevel.alphabet()
        vocab = {symbol: i for i, symbol in enumerate(sorted(alphabet))}
        vocab.update({"<s>": len(vocab), "</s>": len(vocab) + 1})
        backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
        backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        backend.decoder = decoders.ByteLevel()
        tok = transformers.PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>")
        path = os.path.join(self.tmp, "tokenizer")
        tok.save_pretrained(path)
        return path

    def _train_and_score(self, tokenizer_path=None):
        import transformers

        train = write_jsonl(os.path.join(self.tmp, "train.jsonl"), synthetic_rows(48, seed=1))
        held = write_jsonl(os.path.join(self.tmp, "held.jsonl"), synthetic_rows(16, seed=2))
        config = tiny_config(self.tmp, train=train, eval=held,
                             tokenizer={"kind": "hf", "path": tokenizer_path} if tokenizer_path else {"kind": "byte"})
        vocab = 258 if tokenizer_path else 259
        config["model"] = {"kind": "hf", "hf_config": {"model_type": "llama", "vocab_size": vocab, **SMALL}}
        config["training"]["max_steps"] = 3
        code, events = run_in_process(config, "rm", self.tmp)
        self.assertEqual(code, 0)
        final = events[-1]["final_model"]
        with open(os.path.join(final, "tribunal_export.json"), encoding="utf-8") as handle:
            info = json.load(handle)
        config["task"] = "rm"
        code, evaluated = run_in_process(config, "eval", self.tmp)
        self.assertEqual(code, 0)
        with open(next(e for e in evaluated if e["type"] == "eval")["predictions"], encoding="utf-8") as handle:
            predictions = [json.loads(line) for line in handle]
        model = transformers.AutoModelForSequenceClassification.from_pretrained(final).eval()
        parsed = parse_config(config, base_dir=self.tmp, task="rm")
        tokenizer = build_tokenizer(parsed.tokenizer, parsed.model, distinct_pad=True)
        examples, _ = tokenize_pairs(read_pairs(held), tokenizer, max_length=64, max_prompt_length=24)
        batch = collate_pairs(examples, info["pad_token_id"], concatenated=True)["concatenated"]
        with torch.no_grad():  # no attention mask: HF finds the score token from the pad id alone
            scores = model(input_ids=batch["input_ids"]).logits.squeeze(-1).double()
        n = len(examples)
        for row in predictions:
            self.assertAlmostEqual(float(scores[row["index"]]), row["reward_chosen"], delta=1e-4)
            self.assertAlmostEqual(float(scores[n + row["index"]]), row["reward_rejected"], delta=1e-4)
        return info

    def test_reward_model_with_the_byte_tokenizer(self):
        info = self._train_and_score()
        self.assertEqual((info["pad_token_id"], info["eos_token_id"]), (256, 258))

    def test_reward_model_whose_tokenizer_has_no_pad_token(self):
        info = self._train_and_score(self._byte_level_tokenizer())
        self.assertTrue(info["added_pad_token"])
        self.assertNotEqual(info["pad_token_id"], info["eos_token_id"])

    def test_dpo_policy_with_lora_merged_loads_as_a_causal_lm(self):
        import transformers

        train = write_jsonl(os.path.join(self.tmp, "train.jsonl"), synthetic_rows(24, seed=1))
        config = tiny_config(self.tmp, train=train, tokenizer={"kind": "byte"},
                             lora={"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"], "merge_on_export": True})
        config["model"] = {"kind": "hf", "hf_config": {"model_type": "llama", "vocab_size": 259, **SMALL}}
        code, events = run_in_process(config, "dpo", self.tmp)
        self.assertEqual(code, 0)
        final = events[-1]["final_model"]
        self.assertFalse(os.path.exists(os.path.join(final, "adapter_config.json")))
        model = transformers.AutoModelForCausalLM.from_pretrained(final)
        self.assertFalse(any("lora" in name for name, _ in model.named_parameters()))
        ids = torch.tensor([[257, 72, 105, 258]])
        self.assertEqual(tuple(model(input_ids=ids).logits.shape), (1, 4, 259))


if __name__ == "__main__":
    unittest.main()
