"""bench_gpu.py: its helpers, and end-to-end runs on CPU with --smoke that write the JSON report."""

import json
import os
import subprocess
import sys
import unittest

from .helpers import HH_RLHF, REPO_ROOT, TempDirTestCase, worker_env


def run_bench(tmp, *args, name="bench.json", env=None, out=True):
    path = os.path.join(tmp, name)
    command = [sys.executable, os.path.join("trainers", "bench_gpu.py"), "--smoke", "--device", "cpu", *args]
    if out:
        command += ["--out", path]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env or worker_env(), capture_output=True, text=True, timeout=120)
    return done, path


class BenchHelpersTest(unittest.TestCase):
    def test_peak_table_by_device_name(self):
        from trainers.bench_gpu import peak_tflops_for

        self.assertEqual(peak_tflops_for("NVIDIA H100 80GB HBM3"), 989.0)
        self.assertEqual(peak_tflops_for("NVIDIA H200"), 989.0)
        self.assertEqual(peak_tflops_for("NVIDIA H100 PCIe"), 756.0)
        self.assertEqual(peak_tflops_for("NVIDIA A100-SXM4-80GB"), 312.0)
        self.assertEqual(peak_tflops_for("NVIDIA H200 NVL"), 835.0)
        self.assertEqual(peak_tflops_for("NVIDIA GH200 480GB"), 989.0)
        self.assertEqual(peak_tflops_for("NVIDIA L40"), 181.0)
        self.assertEqual(peak_tflops_for("NVIDIA L40S"), 362.0)
        self.assertIsNone(peak_tflops_for("Some Other GPU"))
        self.assertIsNone(peak_tflops_for(None))

    def test_fused_adamw_only_where_it_can_step(self):
        import torch

        from trainers.bench_gpu import _adamw
        from trainers.compat import fused_adamw_supported

        model = torch.nn.Linear(2, 2)
        optimizer, fused = _adamw(model, 1e-3, fused=True)
        self.assertIn("not fused", fused)  # CPU parameters (and, on torch 1.13, no fused AdamW at all)
        self.assertFalse(optimizer.defaults.get("fused"))
        self.assertIs(_adamw(model, 1e-3, fused=False)[1], False)
        self.assertIsNotNone(fused_adamw_supported([]))

    def test_tf32_switch_restores_the_previous_setting(self):
        import torch

        from trainers.compat import tf32_disabled, tf32_matmul_state

        before = tf32_matmul_state()
        with tf32_disabled():
            self.assertIs(tf32_matmul_state(), False)
            self.assertFalse(torch.backends.cudnn.allow_tf32)
        self.assertEqual(tf32_matmul_state(), before)

    def test_tf32_switch_falls_back_to_fp32_precision(self):
        from trainers.compat import _disable_tf32

        class NewAPIOnly:  # a backend whose legacy flag is gone, as torch may one day have it
            fp32_precision = "tf32"

            def __setattr__(self, name, value):
                if name == "allow_tf32":
                    raise AttributeError(name)
                object.__setattr__(self, name, value)

        backend = NewAPIOnly()
        restore = _disable_tf32(backend, default=False)
        self.assertEqual(backend.fp32_precision, "ieee")
        restore()
        self.assertEqual(backend.fp32_precision, "tf32")

    def test_unknown_variant_fails_before_any_work(self):
        import contextlib
        import io

        from trainers.bench_gpu import parse_args

        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
            parse_args(["--out", "/dev/null", "--variants", "naive,fastest"])
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
            parse_args(["--out", "/dev/null", "--gen-new-tokens", "0"])

    def test_mfu_formulas(self):
        from trainers.bench_gpu import mfu_numbers

        stats = {"tokens": 1000, "completion_tokens": 400, "sum_len_sq": 50000, "positions": 1200}
        n, vd, layers, hidden = 10_000, 2_000, 2, 8
        out = mfu_numbers(n, vd, layers, hidden, stats, seconds=2.0, peak_flops=1e6)
        attention = 6 * layers * hidden * 50000
        self.assertAlmostEqual(out["mfu"], 6 * n * 1000 / 2.0 / 1e6)
        self.assertAlmostEqual(out["mfu_with_attention"], (6 * n * 1000 + attention) / 2.0 / 1e6)
        self.assertAlmostEqual(out["mfu_needed"], (6 * (n - vd) * 1000 + 6 * vd * 400 + attention) / 2.0 / 1e6)
        self.assertAlmostEqual(out["model_tflops_per_s"], 6 * n * 1000 / 2.0 / 1e12)
        self.assertIsNone(mfu_numbers(n, vd, layers, hidden, stats, seconds=2.0, peak_flops=None)["mfu"])

    def test_synthetic_pairs_are_seeded_and_in_range(self):
        from trainers.bench_gpu import LENGTHS, parse_args, synthetic_pairs

        args = parse_args(["--out", "/dev/null"])
        self.assertEqual(args.shape["hidden_size"], 896)
        self.assertEqual(args.shape["num_key_value_heads"], 2)
        pairs = synthetic_pairs(50, args, seed=3)
        self.assertEqual([p.prompt_ids for p in pairs], [p.prompt_ids for p in synthetic_pairs(50, args, seed=3)])
        for p in pairs:
            self.assertTrue(LENGTHS["prompt"][0] <= len(p.prompt_ids) <= LENGTHS["prompt"][1])
            for completion in (p.chosen_ids, p.rejected_ids):
                self.assertTrue(LENGTHS["completion"][0] <= len(completion) <= LENGTHS["completion"][1])
            self.assertTrue(all(0 < t < args.shape["vocab_size"] for t in p.prompt_ids + p.chosen_ids))

    def test_pad_block_pads_to_width(self):
        import torch

        from trainers.batching import IGNORE_INDEX
        from trainers.bench_gpu import PAD_ID, block_stats, pad_block

        block = {"input_ids": torch.tensor([[5, 6, 7]]), "attention_mask": torch.tensor([[1, 1, 1]]),
                 "labels": torch.tensor([[IGNORE_INDEX, 6, 7]])}
        padded = pad_block(block, 5)
        self.assertEqual(padded["input_ids"].tolist(), [[5, 6, 7, PAD_ID, PAD_ID]])
        self.assertEqual(padded["attention_mask"].tolist(), [[1, 1, 1, 0, 0]])
        self.assertEqual(padded["labels"].tolist(), [[IGNORE_INDEX, 6, 7, IGNORE_INDEX, IGNORE_INDEX]])
        self.assertEqual(block_stats([padded]), {"tokens": 3, "completion_tokens": 2, "sum_len_sq": 9, "positions": 5})


class BenchSmokeTest(TempDirTestCase):
    def test_smoke_run_writes_a_report(self):
        done, path = run_bench(self.tmp, "--peak-tflops", "0.001")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout, "")
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
        self.assertTrue(report["smoke"])
        self.assertEqual(report["errors"], [])
        self.assertEqual(report["skipped"], [])
        self.assertIn("6 * N_params", report["mfu_definition"]["mfu"])
        self.assertEqual(report["peak_tflops"], 0.001)
        self.assertEqual(report["peak_tflops_source"], "--peak-tflops")
        variants = report["variants"]
        self.assertEqual(sorted(variants), ["naive", "naive_bf16", "optimised", "optimised_grad_ckpt"])
        for name, v in variants.items():
            self.assertEqual(v["timed_steps"], 2, name)
            self.assertGreater(v["non_pad_tokens_per_s"], 0)
            self.assertGreater(v["step_time_s"]["median"], 0)
            self.assertIsNone(v["peak_memory_bytes"])  # CUDA only
            expected = 6 * v["parameters"] * v["non_pad_tokens_per_s"] / 1e9
            self.assertAlmostEqual(v["mfu"] / expected, 1.0, places=6)
        # both see the same timed pairs; the naive pads them all to the longest pair in the data set
        self.assertEqual(variants["naive"]["timed_totals"]["tokens"], variants["optimised"]["timed_totals"]["tokens"])
        self.assertGreater(variants["naive"]["padding_fraction"], variants["optimised"]["padding_fraction"])
        self.assertEqual(variants["naive"]["switches"]["reference"], "live_model")
        self.assertEqual(variants["optimised"]["ref_precompute_pairs"], 6)
        self.assertIn("optimised_vs_naive", report["comparison"])
        check = report["correctness"]
        self.assertTrue(check["pass"], check)
        self.assertLess(check["fp32"]["loss_rel_diff"], 1e-4)
        self.assertGreater(check["fp32"]["grad_cosine"], 0.9999)
        self.assertGreater(check["fp32"]["dpo_margin_naive"], 0)  # the policy is not its reference
        rm = report["reward_model"]
        if os.path.isfile(HH_RLHF):
            self.assertEqual(rm["status"], "completed")
            self.assertEqual(rm["steps"], 4)
            self.assertEqual(rm["train_pairs"] + rm["eval_pairs"], 64)
            self.assertTrue(0.0 <= rm["heldout"]["accuracy"] <= 1.0)
            self.assertIn("ece", rm["heldout"])
            self.assertIn("smoke figure", rm["note"])
        self.assertTrue(report["summary"]["correctness_pass"])
        generation = report["generation"]
        self.assertEqual((generation["rows"], generation["prompt_tokens"], generation["new_tokens"]), (4, 8, 6))
        self.assertEqual(generation["dtype"], "float32")
        for path in ("kv_cache", "no_cache"):
            self.assertEqual(len(generation[path]["seconds"]), 1, path)
            self.assertAlmostEqual(generation[path]["tokens_per_s"], 4 * 6 / generation[path]["median_s"], places=6)
        self.assertAlmostEqual(generation["kv_cache_speedup"],
                               generation["kv_cache"]["tokens_per_s"] / generation["no_cache"]["tokens_per_s"])
        self.assertEqual(generation["identical_rows"], 4)  # fp32: both paths draw the same tokens
        self.assertEqual(report["summary"]["generation_kv_cache_speedup"], generation["kv_cache_speedup"])

    def test_deadline_skips_work_and_still_writes_the_report(self):
        done, path = run_bench(self.tmp, "--deadline-s", "0")
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
        skipped = [s["phase"] for s in report["skipped"]]
        self.assertEqual(skipped, ["correctness", "naive", "optimised", "reward_model", "generation", "naive_bf16",
                                   "optimised_grad_ckpt"])
        self.assertIsNone(report["generation"])
        self.assertEqual(report["variants"], {})

    @unittest.skipUnless(os.path.isfile(HH_RLHF), "needs ../shared/datasets/hh-rlhf-harmless-base-test.jsonl.gz")
    def test_reward_model_stops_at_its_budget_and_is_still_evaluated(self):
        done, path = run_bench(self.tmp, "--variants", "optimised", "--rm-steps", "100000", "--rm-budget-s", "2")
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(path, encoding="utf-8") as handle:
            rm = json.load(handle)["reward_model"]
        self.assertEqual(rm["status"], "stopped")
        self.assertTrue(rm["stopped_by_budget"])
        self.assertLess(rm["steps"], 100000)
        self.assertEqual(rm["heldout"]["pairs"], rm["eval_pairs"])

    def test_out_defaults_to_the_out_folder(self):
        env = worker_env()
        env["OUT"] = self.tmp
        done, _ = run_bench(self.tmp, "--deadline-s", "0", env=env, out=False)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertTrue(os.path.isfile(os.path.join(self.tmp, "bench_gpu.json")))


class BenchReportAlwaysWrittenTest(TempDirTestCase):
    """The JSON is on disk after every phase, and after a SIGTERM or a fatal error."""

    def _main(self, error, *extra, correctness=None):
        import contextlib
        import io
        from unittest import mock

        from trainers import bench_gpu

        out = os.path.join(self.tmp, "report.json")
        check = mock.patch.object(bench_gpu, "correctness_check", return_value=correctness) if correctness \
            else contextlib.nullcontext()
        with mock.patch.object(bench_gpu, "run_variant", side_effect=error), check, \
                contextlib.redirect_stderr(io.StringIO()):
            try:
                code = bench_gpu.main(["--device", "cpu", "--skip-rm", "--skip-generation", "--variants", "naive",
                                       "--out", out, *extra])
            finally:
                with open(out, encoding="utf-8") as handle:
                    self.report = json.load(handle)
        return code

    def test_sigterm_writes_what_was_measured(self):
        from trainers.bench_gpu import BenchTerminated

        self.assertEqual(self._main(BenchTerminated("SIGTERM"), "--smoke"), 1)
        self.assertEqual(self.report["status"], "interrupted")
        self.assertTrue(self.report["correctness"]["pass"])  # the phase before the signal
        self.assertEqual(self.report["summary"]["status"], "interrupted")
        self.assertIn("SIGTERM", self.report["errors"][-1]["error"])

    def test_a_failure_in_smoke_mode_is_raised_after_the_report_is_written(self):
        with self.assertRaises(RuntimeError):
            self._main(RuntimeError("boom"), "--smoke")
        self.assertEqual(self.report["status"], "failed")
        self.assertIn("boom", self.report["errors"][-1]["error"])

    def test_a_failed_phase_is_recorded_and_the_run_goes_on(self):
        # full shapes, so no real phase may run: the correctness check is stubbed, the variant fails
        self.assertEqual(self._main(RuntimeError("boom"), "--model", "tiny", correctness={"pass": True}), 0)
        self.assertEqual(self.report["status"], "completed")
        self.assertEqual([e["phase"] for e in self.report["errors"]], ["naive"])


class _FakeQwen2Config:
    """What bench_gpu reads of transformers' Qwen2Config. Like ``PretrainedConfig`` (4.36+) and 5.x's
    ``PreTrainedConfig.__post_init__``, it takes ``attn_implementation`` as a keyword and keeps it as
    ``_attn_implementation``, which the model's ``__init__`` then checks and honours. Records its kwargs."""

    made = []

    def __init__(self, attn_implementation=None, **kwargs):
        self.__dict__.update(kwargs)
        self._attn_implementation = attn_implementation
        _FakeQwen2Config.made.append(dict(kwargs, attn_implementation=attn_implementation))


def _fake_transformers():
    """A stand-in transformers module whose Qwen2ForCausalLM is the tiny decoder behind the HF interface
    (fake_hf.FakeCausalLM): exercises bench_gpu's qwen2 branch without transformers."""
    import types

    import torch

    from trainers.tiny_model import Attention, TinyConfig

    from .fake_hf import FakeCausalLM

    class FakeQwen2ForCausalLM(FakeCausalLM):
        def __init__(self, config):
            super().__init__(TinyConfig(vocab_size=config.vocab_size, dim=config.hidden_size,
                                        n_layers=config.num_hidden_layers, n_heads=config.num_attention_heads,
                                        hidden_dim=config.intermediate_size, rope_theta=config.rope_theta))
            self.config = config
            self.lm_head.weight = self.model.decoder.embed_tokens.weight
            for module in self.modules():
                if isinstance(module, Attention):
                    module.use_sdpa = config._attn_implementation == "sdpa"

        def get_input_embeddings(self):
            return self.model.decoder.embed_tokens

        def forward(self, input_ids, attention_mask=None, use_cache=None, past_key_values=None):
            if not use_cache:
                return super().forward(input_ids, attention_mask, use_cache=False)
            # transformers' cache interface (new ids + past in, their logits + past out); the "cache" is the ids
            ids = input_ids if past_key_values is None else torch.cat([past_key_values, input_ids], dim=1)
            FakeQwen2ForCausalLM.cached_calls += past_key_values is not None
            logits = super().forward(ids, None, use_cache=False).logits[:, -input_ids.shape[1]:]
            return types.SimpleNamespace(logits=logits, past_key_values=ids)

    FakeQwen2ForCausalLM.cached_calls = 0

    module = types.ModuleType("transformers")
    module.__version__ = "0.0-fake"
    module.Qwen2Config = _FakeQwen2Config
    module.Qwen2ForCausalLM = FakeQwen2ForCausalLM
    return module


class BenchHFBranchTest(TempDirTestCase):
    def test_qwen2_branch_with_a_fake_transformers(self):
        import contextlib
        import io
        from unittest import mock

        from trainers import bench_gpu

        out = os.path.join(self.tmp, "hf.json")
        fake = _fake_transformers()
        with mock.patch.dict(sys.modules, {"transformers": fake}), \
                contextlib.redirect_stderr(io.StringIO()):
            code = bench_gpu.main(["--smoke", "--device", "cpu", "--model", "auto", "--skip-rm",
                                   "--variants", "naive,optimised", "--out", out])
        self.assertEqual(code, 0)
        with open(out, encoding="utf-8") as handle:
            report = json.load(handle)
        self.assertEqual(report["model_kind"], "qwen2")
        self.assertEqual(report["environment"]["transformers"], "0.0-fake")
        self.assertEqual(report["errors"], [])
        self.assertTrue(report["correctness"]["pass"], report["correctness"])
        self.assertEqual(report["correctness"]["attention"], {"naive": "eager", "optimised": "sdpa"})
        self.assertEqual(report["variants"]["naive"]["attention"], "eager")
        self.assertEqual(report["variants"]["optimised"]["attention"], "sdpa")
        self.assertTrue(report["variants"]["optimised"]["model_checks"]["tied_embeddings"])
        self.assertEqual(report["skipped"], [{"phase": "reward_model", "reason": "--skip-rm"}])
        # generation through transformers' interface: past_key_values with the cache, full forwards without
        generation = report["generation"]
        self.assertEqual((generation["family"], generation["identical_rows"]), ("hf", 4))
        self.assertEqual(fake.Qwen2ForCausalLM.cached_calls, 3 + 5)  # warm-up 4 tokens, timed 6: a step per later one
        made = _FakeQwen2Config.made
        self.assertEqual({m["attn_implementation"] for m in made}, {"eager", "sdpa"})
        self.assertTrue(all(m["tie_word_embeddings"] and m["pad_token_id"] == 0 and m["num_key_value_heads"] == 2
                            for m in made))
