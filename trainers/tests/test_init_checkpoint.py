"""Starting from a checkpoint (iterative DPO): ``init_checkpoint`` gives the policy policy_i's weights while the
reference stays policy_0 (the fresh model), ``ref_checkpoint`` makes a checkpoint the reference; full and LoRA, the
precomputed and on-the-fly references, resume, sampling the result, and the config errors."""

import math
import os
import shutil
import subprocess
import types
from unittest import mock

import torch

from trainers import checkpoint as ckpt
from trainers import engine
from trainers.errors import ConfigError

from .helpers import TempDirTestCase, run_in_process, synthetic_rows, tiny_config, write_jsonl

LORA = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}
ON_THE_FLY = {"precompute_ref_log_probs": False}


def of_type(events, kind):
    return [e for e in events if e["type"] == kind]


def run_with_first_step_weights(config, task, tmp):
    """Run the engine in process and return (code, events, the trainable parameters the first optimizer step started
    from): a spy on the optimizer's first ``step``, after the backward pass, before any update."""
    captured = {}
    original = engine._optimizer

    def spying(model, config_):
        optimizer = original(model, config_)
        step = optimizer.step

        def first(self, *args, **kwargs):
            if not captured:
                captured.update({n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad})
            return step(*args, **kwargs)

        optimizer.step = types.MethodType(first, optimizer)  # a bound method: the LR scheduler wraps it in turn
        return optimizer

    with mock.patch.object(engine, "_optimizer", spying):
        code, events = run_in_process(config, task, tmp)
    return code, events, captured


class InitCheckpointTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        torch.set_num_threads(1)
        self.pairs = write_jsonl(os.path.join(self.tmp, "pairs.jsonl"), synthetic_rows(32, seed=3))

    def config(self, name, **overrides):
        training = {"max_steps": 3, "learning_rate": 5e-2, **overrides.pop("training", {})}
        return tiny_config(self.tmp, train=self.pairs, run_dir=os.path.join(self.tmp, name), training=training,
                           **overrides)

    def train(self, name, task="dpo", **overrides):
        code, events = run_in_process(self.config(name, **overrides), task, self.tmp)
        self.assertEqual(code, 0)
        return events, ckpt.latest_checkpoint(os.path.join(self.tmp, name))

    def reference_tables(self, name):
        return ckpt.torch_load(os.path.join(self.tmp, name, "ref_logps.pt"))["tables"]["train"]

    def assertSameTensors(self, got, want):
        self.assertEqual(sorted(got), sorted(want))
        for key in want:
            self.assertTrue(torch.equal(got[key], want[key]), key)

    def assertLn2(self, metric):
        self.assertAlmostEqual(metric["loss"], math.log(2), places=5)
        self.assertAlmostEqual(metric["metrics"]["rewards/margins"], 0.0, places=5)

    def _starts_from_policy_i_with_reference_policy_0(self, **extra):
        """A: three steps from the fresh model. B: from A's checkpoint. C: a fresh run (the reference policy_0)."""
        _, a = self.train("a", **extra)
        code, b_events, first = run_with_first_step_weights(self.config("b", init_checkpoint=a, **extra), "dpo",
                                                            self.tmp)
        self.assertEqual(code, 0)
        # B's first update started from A's final weights (full: every parameter; LoRA: the adapters)
        self.assertSameTensors(first, ckpt.load_weights(a))
        start = of_type(b_events, "start")[0]
        self.assertEqual((start["init_checkpoint"], start["ref_checkpoint"], start["step"]),
                         ({"path": a, "step": 3}, None, 0))
        # the reference is policy_0: B's precomputed reference log-probs are a fresh run's, exactly
        c_events, _ = self.train("c", training={"max_steps": 1}, **extra)
        self.assertSameTensors(self.reference_tables("b"), self.reference_tables("c"))
        self.assertLn2(of_type(c_events, "metric")[0])
        b_first = of_type(b_events, "metric")[0]
        self.assertGreater(abs(b_first["metrics"]["rewards/margins"]), 1e-3)  # policy A against reference policy_0
        # on the fly (a frozen copy; LoRA: the adapters off) the reference is policy_0 as well: the same first step
        fly = dict(extra, efficiency=ON_THE_FLY)
        _, fly_events = run_in_process(self.config("b-fly", init_checkpoint=a, **fly), "dpo", self.tmp)
        fly_first = of_type(fly_events, "metric")[0]
        for key in ("rewards/chosen", "rewards/rejected", "logps/chosen"):
            self.assertAlmostEqual(fly_first["metrics"][key], b_first["metrics"][key], places=4, msg=key)
        self.assertAlmostEqual(fly_first["loss"], b_first["loss"], places=5)

        # ref_checkpoint = A: the reference is A's policy, so policy and reference agree at step 0 (ln 2, no margin)
        for name, settings in (("d", extra), ("d-fly", fly)):
            _, d_events = run_in_process(self.config(name, init_checkpoint=a, ref_checkpoint=a, **settings), "dpo",
                                         self.tmp)
            self.assertLn2(of_type(d_events, "metric")[0])
            self.assertEqual(of_type(d_events, "start")[0]["ref_checkpoint"], {"path": a, "step": 3})
            # and A's policy log-probs are the policy's own at step 0
            self.assertAlmostEqual(of_type(d_events, "metric")[0]["metrics"]["logps/chosen"],
                                   b_first["metrics"]["logps/chosen"], places=4)
        d_tables, c_tables = self.reference_tables("d"), self.reference_tables("c")
        self.assertFalse(torch.allclose(d_tables["chosen"], c_tables["chosen"]))
        return a

    def test_full_model_starts_from_the_checkpoint_and_keeps_the_fresh_reference(self):
        self._starts_from_policy_i_with_reference_policy_0()

    def test_lora_starts_from_the_checkpoint_s_adapters_and_keeps_the_base_as_reference(self):
        a = self._starts_from_policy_i_with_reference_policy_0(lora=LORA)
        self.assertTrue(all("lora" in name for name in ckpt.load_weights(a)))

    def test_the_reference_cache_is_keyed_by_the_checkpoints(self):
        _, a = self.train("a")
        self.train("cache", training={"max_steps": 1})  # leaves policy_0's log-probs in cache/ref_logps.pt
        shutil.rmtree(os.path.join(self.tmp, "cache", "checkpoints"))
        # the same run directory with the reference from A: the cached policy_0 log-probs must not be reused
        code, events = run_in_process(self.config("cache", training={"max_steps": 1}, ref_checkpoint=a), "dpo",
                                      self.tmp)
        self.assertEqual(code, 0)
        self.assertGreater(len(of_type(events, "progress")), 0)  # computed again
        self.assertGreater(abs(of_type(events, "metric")[0]["metrics"]["rewards/margins"]), 1e-3)

    def test_a_resumed_run_continues_from_its_own_checkpoint_not_init_checkpoint(self):
        _, a = self.train("a")
        base = dict(init_checkpoint=a, training={"max_steps": 5, "save_steps": 2, "lr_scheduler_type": "constant"})
        _, whole = self.train("whole", **base)
        # a run killed after its step-2 checkpoint leaves that checkpoint and the reference cache in its directory
        killed = os.path.join(self.tmp, "killed")
        os.makedirs(os.path.join(killed, "checkpoints"))
        shutil.copytree(os.path.join(self.tmp, "whole", "checkpoints", "step-00000002"),
                        os.path.join(killed, "checkpoints", "step-00000002"))
        shutil.copy(os.path.join(self.tmp, "whole", "ref_logps.pt"), killed)
        events, resumed = self.train("killed", **base)
        start = of_type(events, "start")[0]
        self.assertEqual((start["step"], start["init_checkpoint"]), (2, None))
        self.assertTrue(start["resumed_from"].endswith("step-00000002"))
        self.assertSameTensors(ckpt.load_weights(resumed), ckpt.load_weights(whole))
        # a run stopped by the worker itself (its parent died: it checkpoints after the current step), then rerun; its
        # reference log-probs are cached already (else the stop would come during their precompute, before step 1)
        os.makedirs(os.path.join(self.tmp, "stopped"))
        shutil.copy(os.path.join(self.tmp, "whole", "ref_logps.pt"), os.path.join(self.tmp, "stopped"))
        gone = subprocess.Popen(["true"])
        gone.wait()
        with mock.patch.dict(os.environ, {engine.PARENT_PID_ENV: str(gone.pid)}):
            events, _ = self.train("stopped", **base)
        self.assertEqual([(e["status"], e["step"]) for e in of_type(events, "done")], [("stopped", 1)])
        events, resumed = self.train("stopped", **base)
        self.assertEqual(of_type(events, "start")[0]["step"], 1)
        self.assertSameTensors(ckpt.load_weights(resumed), ckpt.load_weights(whole))

    def test_eval_of_the_initial_model_is_init_checkpoint_s(self):
        _, a = self.train("a", eval=self.pairs)
        # A's trained policy, evaluated against its reference (policy_0)
        config = dict(self.config("a", eval=self.pairs), task="dpo")
        config["eval"] = {"batch_size": 32, "checkpoint": a}
        code, events = run_in_process(config, "eval", self.tmp)
        self.assertEqual(code, 0)
        trained = of_type(events, "eval")[0]["metrics"]
        # a run from A with no checkpoint of its own yet: its initial model is A's policy, its reference policy_0
        config = dict(self.config("b", eval=self.pairs, init_checkpoint=a), task="dpo")
        code, events = run_in_process(config, "eval", self.tmp)
        self.assertEqual(code, 0)
        self.assertIsNone(of_type(events, "eval")[0]["checkpoint"])
        initial = of_type(events, "eval")[0]["metrics"]
        for key in ("loss", "accuracy", "mean_margin"):
            self.assertAlmostEqual(initial[key], trained[key], places=5, msg=key)

    # -- sampling ---------------------------------------------------------------------------------

    def test_a_lora_policy_trained_from_init_checkpoint_is_sampled_from_its_own_checkpoint(self):
        from trainers.config import TokenizerConfig, _parse_section
        from trainers.generate import GenerateConfig, build_policy, run_generate
        from trainers.protocol import EventStream
        from trainers.tokenizer import build_tokenizer

        _, a = self.train("a", lora=LORA)
        _, b = self.train("b", lora=LORA, init_checkpoint=a)
        config = self.config("b", lora=LORA)
        prompts = write_jsonl(os.path.join(self.tmp, "prompts.jsonl"), [{"id": "p", "prompt": "Q: abc?\nA:"}])
        samples = {}
        for name, checkpoint in (("b", b), ("a", a), ("initial", None)):
            raw = {"prompts": prompts, "model": config["model"], "lora": LORA, "seed": 0, "device": "cpu",
                   "checkpoint": checkpoint, "sampling": {"n": 2, "max_new_tokens": 6, "temperature": 0.0}}
            parsed = _parse_section(GenerateConfig, raw, "", self.tmp)
            events = EventStream(None)
            self.assertEqual(run_generate(parsed, events), 0)
            samples[name] = of_type(events.history, "sample")[0]["samples"][0]
        self.assertNotEqual(samples["b"]["logprob"], samples["a"]["logprob"])
        self.assertNotEqual(samples["b"]["logprob"], samples["initial"]["logprob"])
        # what generate samples is B: the base built from the seed (as in training) and B's adapters
        parsed = _parse_section(GenerateConfig, {"prompts": prompts, "model": config["model"], "lora": LORA,
                                                 "checkpoint": b}, "", self.tmp)
        tokenizer = build_tokenizer(TokenizerConfig(), parsed.model)
        model, _ = build_policy(parsed, tokenizer, torch.device("cpu"), tokenizer_config=TokenizerConfig(),
                                prompts=prompts)
        fresh, _ = build_policy(_parse_section(GenerateConfig, {"prompts": prompts, "model": config["model"],
                                                               "lora": LORA}, "", self.tmp),
                                tokenizer, torch.device("cpu"), tokenizer_config=TokenizerConfig(), prompts=prompts)
        adapters = ckpt.load_weights(b)
        fresh_state = dict(fresh.named_parameters())
        for name, parameter in model.named_parameters():
            want = adapters[name] if name in adapters else fresh_state[name]
            self.assertTrue(torch.equal(parameter.detach(), want.detach()), name)

    # -- config errors ----------------------------------------------------------------------------

    def assertRefused(self, config, field, text, task="dpo"):
        with self.assertRaises(ConfigError) as caught:
            run_in_process(config, task, self.tmp)
        self.assertEqual(caught.exception.field, field, caught.exception.message)
        self.assertIn(text, caught.exception.message)

    def test_config_errors_name_the_field_and_say_what_to_do(self):
        _, a = self.train("a")
        _, rm = self.train("rm", task="rm")
        self.assertRefused(self.config("x", init_checkpoint="no/such/dir"), "init_checkpoint", "is not found")
        self.assertRefused(self.config("x", ref_checkpoint=self.tmp), "ref_checkpoint", "not a complete checkpoint")
        self.assertRefused(self.config("x", init_checkpoint=rm), "init_checkpoint", "checkpoint of a 'rm' run, not 'dpo'")
        self.assertRefused(self.config("x", ref_checkpoint=rm), "ref_checkpoint", "checkpoint of a 'rm' run, not 'dpo'")
        self.assertRefused(self.config("x", ref_checkpoint=a), "ref_checkpoint", "applies to dpo only", task="rm")
        self.assertRefused(self.config("x", ref_checkpoint=a, ref_model="tiny"), "ref_checkpoint", "not both")
        smaller = self.config("x", init_checkpoint=a)
        smaller["model"] = {"kind": "tiny", "tiny": {"dim": 16, "n_layers": 2, "n_heads": 2, "max_seq_len": 64}}
        self.assertRefused(smaller, "init_checkpoint", "was trained with another model")
        self.assertRefused(self.config("x", init_checkpoint=a, lora=LORA), "init_checkpoint", "other LoRA settings")
        # the fresh reference would be another random model: refused, unless the reference comes from a checkpoint
        self.assertRefused(self.config("x", init_checkpoint=a, seed=1), "init_checkpoint", "Use seed 0")
        code, _ = run_in_process(self.config("seed-1", init_checkpoint=a, ref_checkpoint=a, seed=1), "dpo", self.tmp)
        self.assertEqual(code, 0)
        _, lora_a = self.train("lora-a", lora=LORA)
        self.assertRefused(self.config("x", ref_checkpoint=lora_a, lora=LORA, seed=1), "ref_checkpoint",
                           "its LoRA adapters sit on the base model built from that seed")
        # a checkpoint whose parameters do not fit (no config.json to compare): a config error, not a crash
        bare = os.path.join(self.tmp, "bare")
        shutil.copytree(lora_a, bare)
        os.remove(os.path.join(bare, "config.json"))
        self.assertRefused(self.config("x", init_checkpoint=bare), "init_checkpoint", "does not fit this run's model")
