"""The worker's Hugging Face loading code against a stand-in ``transformers`` (fake_hf.fake_transformers):
the keywords it passes, for transformers before and after the 4.56 ``torch_dtype`` -> ``dtype`` rename,
and a reward model trained end to end from ``model.hf_config`` (what bench_gpu.py runs on a GPU)."""

import os
import sys
import unittest
from types import SimpleNamespace
from unittest import mock

import torch

from .fake_hf import fake_transformers
from .helpers import TempDirTestCase, run_in_process, synthetic_rows, tiny_config, write_jsonl

QWEN2_SMALL = {"model_type": "qwen2", "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
               "num_key_value_heads": 2, "intermediate_size": 64, "vocab_size": 259, "max_position_embeddings": 128,
               "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True, "pad_token_id": 256}


class DtypeKeywordTest(unittest.TestCase):
    def test_the_4_56_rename(self):
        from trainers.models import _dtype_keyword

        for version, keyword in (("4.44.2", "torch_dtype"), ("4.55.4", "torch_dtype"), ("4.56.0", "dtype"),
                                 ("4.57.0.dev0", "dtype"), ("5.0.0rc1", "dtype"), ("5.2.0", "dtype")):
            self.assertEqual(_dtype_keyword(SimpleNamespace(__version__=version)), keyword, version)


class BackboneLookupTest(unittest.TestCase):
    def test_without_get_decoder_the_base_model_prefix_is_used(self):
        from trainers.models import PreferenceModel
        from trainers.tiny_model import TinyConfig

        from .fake_hf import FakeCausalLM

        class GPT2Shaped(FakeCausalLM):  # 4.x GPT2LMHeadModel: no get_decoder, backbone at .transformer
            base_model_prefix = "transformer"
            get_decoder = None

            def __init__(self, config):
                super().__init__(config)
                self.transformer = self.model

        torch.manual_seed(0)
        core = GPT2Shaped(TinyConfig(vocab_size=40, dim=16, n_layers=1, n_heads=2))
        ids = torch.randint(1, 40, (2, 5))
        labels = ids.clone()
        labels[:, :2] = -100
        logps, counts = PreferenceModel(core, head="lm", family="hf")(ids, torch.ones_like(ids), labels)
        self.assertEqual(counts.tolist(), [3, 3])
        self.assertGreater(core.model.calls, 0)


class HFLoadKeywordsTest(TempDirTestCase):
    def _load(self, version, *, head, **model_fields):
        from trainers.models import _hf_load

        module = fake_transformers(version)
        fields = {"path": None, "hf_config": None, "dtype": "float32", "trust_remote_code": False, **model_fields}
        with mock.patch.dict(sys.modules, {"transformers": module}):
            core = _hf_load(SimpleNamespace(**fields), head=head, where="model")
        return core, module.calls

    def test_from_config_passes_the_dtype_under_this_version_s_name(self):
        for version, keyword in (("4.55.4", "torch_dtype"), ("5.0.0", "dtype")):
            core, calls = self._load(version, head="score", hf_config=dict(QWEN2_SMALL))
            (name, args, kwargs), (build, _, build_kwargs) = calls
            self.assertEqual((name, args[0]), ("AutoConfig.for_model", "qwen2"))
            self.assertEqual(kwargs["num_labels"], 1)  # one scalar reward
            self.assertNotIn("model_type", kwargs)
            self.assertEqual(build, "AutoModelForSequenceClassification.from_config")
            self.assertEqual(build_kwargs, {"trust_remote_code": False, keyword: torch.float32})
            self.assertEqual(core.config.num_labels, 1)

    def test_from_pretrained_is_local_only(self):
        core, calls = self._load("5.0.0", head="lm", path=self.tmp, dtype="bfloat16")
        (name, args, kwargs), = calls
        self.assertEqual((name, args), ("AutoModelForCausalLM.from_pretrained", (self.tmp,)))
        self.assertEqual(kwargs, {"local_files_only": True, "trust_remote_code": False, "dtype": torch.bfloat16})
        self.assertEqual(next(core.parameters()).dtype, torch.bfloat16)
        _, calls = self._load("5.0.0", head="score", path=self.tmp)
        self.assertEqual(calls[0][2]["num_labels"], 1)


class RewardModelFromHFConfigTest(TempDirTestCase):
    def test_trains_checkpoints_and_exports(self):
        train = write_jsonl(os.path.join(self.tmp, "train.jsonl"), synthetic_rows(24, seed=1))
        config = tiny_config(self.tmp, train=train, tokenizer={"kind": "byte"}, data={"eval_fraction": 0.25})
        config["model"] = {"kind": "hf", "hf_config": dict(QWEN2_SMALL)}  # as bench_gpu.reward_model_config
        module = fake_transformers("5.0.0")
        with mock.patch.dict(sys.modules, {"transformers": module}):
            code, events = run_in_process(config, "rm", self.tmp)
        self.assertEqual(code, 0)
        start = next(e for e in events if e["type"] == "start")
        done = events[-1]
        self.assertEqual(start["model"]["family"], "hf")
        self.assertEqual(done["type"], "done")
        self.assertEqual(done["status"], "completed")
        self.assertTrue(os.path.isfile(os.path.join(done["final_model"], "config.json")))
        self.assertIsNotNone(done["eval"]["accuracy"])
        builds = [c for c in module.calls if c[0].endswith("from_config")]
        self.assertEqual(builds[0][2], {"trust_remote_code": False, "dtype": torch.float32})


if __name__ == "__main__":
    unittest.main()
