"""The training loop end to end, in process: learning, DPO at step 0, resume, accumulation, eval."""

import json
import math
import os

import torch

from trainers import checkpoint as ckpt
from trainers.errors import ConfigError, DataError

from .helpers import HH_RLHF, TempDirTestCase, run_in_process, synthetic_rows, tiny_config, write_jsonl

# "learns in under a minute" as a step budget rather than a clock: on this tiny model and batch
# size, 60 optimizer steps take a few seconds on one CPU core.
LEARNING_STEP_BUDGET = 60


def of_type(events, kind):
    return [e for e in events if e["type"] == kind]


class TrainingTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        torch.set_num_threads(1)
        self.train = write_jsonl(os.path.join(self.tmp, "train.jsonl"), synthetic_rows(512, seed=1))
        self.eval = write_jsonl(os.path.join(self.tmp, "eval.jsonl"), synthetic_rows(128, seed=2))
        self.small = write_jsonl(os.path.join(self.tmp, "small.jsonl"), synthetic_rows(32, seed=3))

    def config(self, name, **overrides):
        return tiny_config(self.tmp, train=overrides.pop("train", self.small), run_dir=os.path.join(self.tmp, name), **overrides)

    # -- learning ------------------------------------------------------------------------------

    def _learns(self, task):
        config = tiny_config(self.tmp, train=self.train, eval=self.eval, run_dir=os.path.join(self.tmp, task),
                             training={"batch_size": 16, "learning_rate": 3e-3, "warmup_steps": 10,
                                       "max_steps": LEARNING_STEP_BUDGET, "logging_steps": 20})
        code, events = run_in_process(config, task, self.tmp)
        self.assertEqual(code, 0)
        done = of_type(events, "done")[-1]
        self.assertEqual((done["status"], done["step"]), ("completed", LEARNING_STEP_BUDGET))
        metrics = of_type(events, "eval")[-1]["metrics"]
        self.assertEqual(metrics["pairs"], 128)
        self.assertGreaterEqual(metrics["accuracy"], 0.95, metrics)
        # the marker, not length, is what was learnt
        for group in ("chosen_longer", "chosen_shorter"):
            self.assertGreaterEqual(metrics[f"accuracy/{group}"], 0.9, metrics)
        return metrics

    def test_reward_model_learns_the_synthetic_preference(self):
        metrics = self._learns("rm")
        self.assertLess(metrics["ece"], 0.1)

    def test_dpo_learns_the_synthetic_preference(self):
        self._learns("dpo")

    # -- DPO at step 0 -----------------------------------------------------------------------

    def _first_step(self, name="first", **overrides):
        config = self.config(name, training={"max_steps": 1}, **overrides)
        code, events = run_in_process(config, "dpo", self.tmp)
        self.assertEqual(code, 0)
        return of_type(events, "metric")[0]

    def assertLn2AndZeroRewards(self, metric, places=6):
        self.assertAlmostEqual(metric["loss"], math.log(2), places=places)
        for key in ("rewards/chosen", "rewards/rejected", "rewards/margins"):
            self.assertAlmostEqual(metric["metrics"][key], 0.0, places=places)
        self.assertLess(metric["metrics"]["logps/chosen"], 0)

    def test_dpo_step0_with_precomputed_reference(self):
        self.assertLn2AndZeroRewards(self._first_step())

    def test_dpo_step0_with_frozen_copy_reference(self):
        self.assertLn2AndZeroRewards(self._first_step(efficiency={"precompute_ref_log_probs": False}))

    def test_dpo_step0_with_lora_adapters_disabled_as_reference(self):
        metric = self._first_step(efficiency={"precompute_ref_log_probs": False},
                                  lora={"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]})
        self.assertLn2AndZeroRewards(metric)

    def test_dpo_step0_every_loss_type(self):
        # reference = policy makes logits 0: sigmoid/robust ln 2, hinge 1, ipo 1/(2 beta)^2
        for loss_type, want in (("robust", math.log(2)), ("hinge", 1.0), ("ipo", 25.0)):
            dpo = {"beta": 0.1, "loss_type": loss_type, "label_smoothing": 0.1 if loss_type == "robust" else 0.0}
            metric = self._first_step(loss_type, dpo=dpo)
            self.assertAlmostEqual(metric["loss"], want, places=4, msg=loss_type)

    def test_dpo_reports_progress_while_computing_reference_log_probs(self):
        # 512 pairs at eval batch size 4: 128 batches, reported about 50 times, before the start event
        config = self.config("progress", train=self.train, training={"max_steps": 1})
        config["eval"] = {"batch_size": 4}
        code, events = run_in_process(config, "dpo", self.tmp)
        self.assertEqual(code, 0)
        progress = of_type(events, "progress")
        self.assertEqual({e["phase"] for e in progress}, {"reference"})
        self.assertEqual([e["done"] for e in progress], sorted(e["done"] for e in progress))
        self.assertEqual((progress[0]["done"], progress[-1]["done"], progress[-1]["total"]), (0, 128, 128))
        self.assertLessEqual(len(progress), 66)
        self.assertLess(events.index(progress[-1]), events.index(of_type(events, "start")[0]))
        # the cached tables of a resumed run need no precompute
        config["training"]["max_steps"] = 2
        _, again = run_in_process(config, "dpo", self.tmp)
        self.assertEqual(of_type(again, "progress"), [])

    # -- margins and label smoothing ---------------------------------------------------------------

    def _first_loss(self, name, rows, task="rm", **overrides):
        """The loss logged at step 3 (at step 1 an untrained reward head scores every pair 0, whatever the smoothing)."""
        train = write_jsonl(os.path.join(self.tmp, f"{name}.jsonl"), rows)
        config = self.config(name, train=train, training={"max_steps": 3, "learning_rate": 1e-2}, **overrides)
        code, events = run_in_process(config, task, self.tmp)
        self.assertEqual(code, 0)
        return of_type(events, "metric")[-1]["loss"]

    def test_margin_off_and_scaled(self):
        rows = synthetic_rows(32, seed=4)
        with_margin = [dict(row, margin=2.0 + i % 3) for i, row in enumerate(rows)]
        halved = [dict(row, margin=(2.0 + i % 3) / 2) for i, row in enumerate(rows)]
        plain = self._first_loss("plain", rows)
        self.assertNotAlmostEqual(self._first_loss("margin", with_margin), plain, places=4)
        self.assertAlmostEqual(self._first_loss("margin-off", with_margin, rm={"use_margin": False}), plain, places=6)
        self.assertAlmostEqual(self._first_loss("margin-half", with_margin, rm={"margin_scale": 0.5}),
                               self._first_loss("halved", halved), places=6)

    def test_per_pair_label_smoothing_from_the_panel_columns(self):
        rows = synthetic_rows(32, seed=6)
        # every row carries the same uncertainty: per-pair smoothing must equal the global setting of that value
        columns = [dict(row, label_smoothing=0.2, consensus_probability=0.8) for row in rows]
        for task, section in (("rm", "rm"), ("dpo", "dpo")):
            smoothed = self._first_loss(f"{task}-global", rows, task, **{section: {"label_smoothing": 0.2}})
            self.assertNotAlmostEqual(smoothed, self._first_loss(f"{task}-hard", rows, task), places=4, msg=task)
            for column in ("label_smoothing", "consensus_probability"):
                per_pair = self._first_loss(f"{task}-{column}", columns, task,
                                            data={"pair_label_smoothing": column, "max_length": 64,
                                                  "max_prompt_length": 24})
                self.assertAlmostEqual(per_pair, smoothed, places=5, msg=f"{task} {column}")
        # rows without the column fall back to the global value; half the rows at 0.5 change the loss
        mixed = [dict(row, label_smoothing=0.5) if i % 2 else row for i, row in enumerate(rows)]
        self.assertNotAlmostEqual(
            self._first_loss("rm-mixed", mixed, data={"pair_label_smoothing": "label_smoothing", "max_length": 64,
                                                      "max_prompt_length": 24}),
            self._first_loss("rm-none", rows), places=4)

    # -- resume --------------------------------------------------------------------------------

    def _resume_reproduces(self, task, **overrides):
        base = dict(training={"max_steps": 5, "save_steps": 2, "gradient_accumulation_steps": 2, "batch_size": 6,
                              "warmup_steps": 1}, **overrides)
        code, full = run_in_process(self.config(f"{task}-full", **base), task, self.tmp)
        self.assertEqual(code, 0)
        losses = {e["step"]: e["loss"] for e in of_type(full, "metric")}
        self.assertEqual(sorted(losses), [1, 2, 3, 4, 5])
        self.assertEqual([e["step"] for e in of_type(full, "checkpoint")], [2, 4, 5])
        step2 = os.path.join(self.tmp, f"{task}-full", "checkpoints", "step-00000002")
        code, resumed = run_in_process(self.config(f"{task}-resumed", resume=step2, **base), task, self.tmp)
        self.assertEqual(code, 0)
        start = of_type(resumed, "start")[0]
        self.assertEqual((start["step"], start["resumed_from"]), (2, step2))
        again = {e["step"]: e["loss"] for e in of_type(resumed, "metric")}
        self.assertEqual(sorted(again), [3, 4, 5])
        for step in (3, 4, 5):
            self.assertEqual(again[step], losses[step], f"{task} step {step}: resumed loss differs")  # exact
        return full, resumed

    def test_resume_reproduces_the_next_losses_exactly_rm(self):
        self._resume_reproduces("rm", rm={"center_rewards_coefficient": 0.01})

    def test_resume_reproduces_the_next_losses_exactly_dpo(self):
        full, _ = self._resume_reproduces("dpo")
        # epochs were crossed (32 pairs = 6 micro-batches of 6 = 3 steps per epoch)
        self.assertGreater(of_type(full, "metric")[-1]["epoch"], 1.0)
        directory = ckpt.latest_checkpoint(os.path.join(self.tmp, "dpo-full"))
        self.assertTrue(directory.endswith("step-00000005"))
        names = set(os.listdir(directory))
        self.assertTrue({"trainer_state.json", "optimizer.pt", "rng_state.pt", "config.json"} <= names, names)
        self.assertTrue({"model.safetensors", "model.pt"} & names, names)

    def test_resume_off_a_logging_step_logs_what_the_uninterrupted_run_logs(self):
        # checkpoint at step 3, metric events every 2 steps: the resumed run's step-4 event averages steps 3 and 4
        # and counts every token, exactly like the run that never stopped
        base = dict(training={"max_steps": 6, "save_steps": 3, "logging_steps": 2, "batch_size": 6})
        code, full = run_in_process(self.config("window-full", **base), "rm", self.tmp)
        self.assertEqual(code, 0)
        step3 = os.path.join(self.tmp, "window-full", "checkpoints", "step-00000003")
        code, resumed = run_in_process(self.config("window-resumed", resume=step3, **base), "rm", self.tmp)
        self.assertEqual(code, 0)
        want = {e["step"]: (e["loss"], e["tokens"]) for e in of_type(full, "metric")}
        got = {e["step"]: (e["loss"], e["tokens"]) for e in of_type(resumed, "metric")}
        self.assertEqual(sorted(got), [4, 6])
        for step in (4, 6):
            self.assertEqual(got[step], want[step], f"step {step}")

    def test_resume_auto_continues_from_latest(self):
        first = self.config("auto", training={"max_steps": 2, "lr_scheduler_type": "constant"})
        self.assertEqual(run_in_process(first, "rm", self.tmp)[0], 0)
        second = self.config("auto", training={"max_steps": 3, "lr_scheduler_type": "constant"})
        code, events = run_in_process(second, "rm", self.tmp)
        self.assertEqual(code, 0)
        self.assertEqual(of_type(events, "start")[0]["step"], 2)
        self.assertEqual([e["step"] for e in of_type(events, "metric")], [3])

    def test_resume_with_a_new_max_steps_rebuilds_the_schedule(self):
        # a 4-step cosine run resumed with max_steps 8 continues on the 8-step cosine: the learning rates of steps
        # 5-8 are those of an uninterrupted 8-step run, falling, never rising again past the old end
        schedule = {"lr_scheduler_type": "cosine", "warmup_steps": 0, "learning_rate": 1e-3}
        _, straight = run_in_process(self.config("straight", training={**schedule, "max_steps": 8}), "rm", self.tmp)
        want = {e["step"]: e["lr"] for e in of_type(straight, "metric")}
        self.assertEqual(run_in_process(self.config("grown", training={**schedule, "max_steps": 4}), "rm", self.tmp)[0], 0)
        code, events = run_in_process(self.config("grown", training={**schedule, "max_steps": 8}), "rm", self.tmp)
        self.assertEqual(code, 0)
        got = {e["step"]: e["lr"] for e in of_type(events, "metric")}
        self.assertEqual(sorted(got), [5, 6, 7, 8])
        for step in (5, 6, 7, 8):
            self.assertAlmostEqual(got[step], want[step], places=12, msg=f"step {step}")
        self.assertEqual([got[k] >= got[k + 1] for k in (5, 6, 7)], [True] * 3)
        start = of_type(events, "start")[0]
        self.assertEqual(start["schedule"]["changed_on_resume"]["from"]["total_steps"], 4)
        self.assertEqual(start["schedule"]["total_steps"], 8)

    def test_resume_with_other_data_settings_is_refused(self):
        self.assertEqual(run_in_process(self.config("data-changed", training={"max_steps": 2}), "rm", self.tmp)[0], 0)
        changed = self.config("data-changed", training={"max_steps": 4})
        changed["data"] = {**changed["data"], "truncation": "keep_end"}
        with self.assertRaises(ConfigError) as caught:
            run_in_process(changed, "rm", self.tmp)
        self.assertEqual(caught.exception.field, "data.truncation")
        self.assertIn('trained with "keep_answers"', caught.exception.message)

    def test_resume_below_the_checkpoint_step_is_refused(self):
        self.assertEqual(run_in_process(self.config("shrunk", training={"max_steps": 4}), "rm", self.tmp)[0], 0)
        with self.assertRaises(ConfigError) as caught:
            run_in_process(self.config("shrunk", training={"max_steps": 2}), "rm", self.tmp)
        self.assertEqual(caught.exception.field, "training.max_steps")
        self.assertIn("already at step 4", caught.exception.message)

    # -- gradient accumulation, separate forwards, eval command ---------------------------------

    def test_accumulation_matches_a_bigger_batch(self):
        common = {"max_steps": 2, "lr_scheduler_type": "constant"}
        eff = {"length_bucketing": False}
        _, big = run_in_process(self.config("big", training={**common, "batch_size": 8}, efficiency=eff), "rm", self.tmp)
        _, accum = run_in_process(self.config("accum", training={**common, "batch_size": 4, "gradient_accumulation_steps": 2},
                                              efficiency=eff), "rm", self.tmp)
        for a, b in zip(of_type(big, "metric"), of_type(accum, "metric")):
            self.assertAlmostEqual(a["loss"], b["loss"], places=5)
            self.assertAlmostEqual(a["metrics"]["margin"], b["metrics"]["margin"], places=5)

    def test_separate_forwards_and_full_logits_give_the_same_run(self):
        common = dict(training={"max_steps": 2})
        _, fast = run_in_process(self.config("fast", **common), "dpo", self.tmp)
        _, slow = run_in_process(self.config("slow", efficiency={"concatenated_forward": False, "chunked_log_probs": False,
                                                                 "length_bucketing": True}, **common), "dpo", self.tmp)
        for a, b in zip(of_type(fast, "metric"), of_type(slow, "metric")):
            self.assertAlmostEqual(a["loss"], b["loss"], places=5)
            # TRL's logits/chosen and logits/rejected, from chunks or from full logits
            for key in ("logits/chosen", "logits/rejected"):
                self.assertAlmostEqual(a["metrics"][key], b["metrics"][key], places=4, msg=key)

    def test_eval_command_matches_end_of_training_eval(self):
        config = self.config("evalrun", eval=self.eval, training={"max_steps": 3})
        _, events = run_in_process(config, "dpo", self.tmp)
        trained = of_type(events, "eval")[-1]["metrics"]
        config["task"] = "dpo"
        code, again = run_in_process(config, "eval", self.tmp)
        self.assertEqual(code, 0)
        self.assertEqual(of_type(again, "start")[0]["step"], 3)
        evaluated = of_type(again, "eval")[0]["metrics"]
        for key in ("accuracy", "ece", "brier", "loss", "accuracy/chosen_longer"):
            self.assertAlmostEqual(trained[key], evaluated[key], places=5, msg=key)

    def test_identical_answers_are_ties_scored_once(self):
        # a trained model on a file whose answers are all identical: every pair a tie (not a rounding-noise win or
        # loss), none right, p = 0.5 (ECE 0, Brier 0.25), and the predictions say so
        same = [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["chosen"]} for r in synthetic_rows(24, seed=5)]
        identical = write_jsonl(os.path.join(self.tmp, "identical.jsonl"), same)
        for task in ("rm", "dpo"):
            config = self.config(f"identical-{task}", training={"max_steps": 3, "learning_rate": 1e-2})
            self.assertEqual(run_in_process(config, task, self.tmp)[0], 0)
            config.update(task=task, data={**config["data"], "eval": identical}, eval={"batch_size": 5})
            code, events = run_in_process(config, "eval", self.tmp)
            self.assertEqual(code, 0)
            metrics = of_type(events, "eval")[0]["metrics"]
            self.assertEqual((metrics["pairs"], metrics["ties"], metrics["identical_answers"]), (24, 24, 24), task)
            self.assertEqual((metrics["accuracy"], metrics["ece"], metrics["brier"]), (0.0, 0.0, 0.25), task)
            with open(of_type(events, "eval")[0]["predictions"], encoding="utf-8") as handle:
                rows = [json.loads(line) for line in handle]
            self.assertTrue(all(row["tie"] and not row["correct"] and row["margin"] == 0 for row in rows), task)


class RealDataTest(TempDirTestCase):
    def test_default_truncation_drops_what_does_not_fit_and_says_so(self):
        config = tiny_config(self.tmp, train=HH_RLHF, data={"train": HH_RLHF, "max_rows": 40, "eval_fraction": 0.2,
                                                              "max_length": 128, "max_prompt_length": 64},
                             training={"max_steps": 1, "batch_size": 4})
        config["model"]["tiny"]["max_seq_len"] = 128
        code, events = run_in_process(config, "rm", self.tmp)
        self.assertEqual(code, 0)
        start = of_type(events, "start")[0]
        train, held = start["data"]["truncation"]["train"], start["data"]["truncation"]["eval"]
        self.assertEqual((train["policy"], train["answer_cut"], held["answer_cut"]), ("keep_answers", 0, 0))
        self.assertEqual(train["pairs"] + train["dropped"] + held["pairs"] + held["dropped"], 40)
        self.assertGreater(train["dropped"], 0)
        self.assertEqual(start["data"]["train_pairs"], train["pairs"])
        # a length no pair fits is a data error that says what to do
        config["data"]["max_length"], config["data"]["max_prompt_length"] = 8, 4
        config["run_dir"] = os.path.join(self.tmp, "too-short")
        with self.assertRaises(DataError) as caught:
            run_in_process(config, "rm", self.tmp)
        self.assertEqual(caught.exception.reason, "length")

    def test_dpo_runs_on_real_hh_rlhf_pairs(self):
        config = tiny_config(self.tmp, train=HH_RLHF, data={"train": HH_RLHF, "max_rows": 40, "eval_fraction": 0.2,
                                                              "max_length": 128, "max_prompt_length": 64,
                                                              "truncation": "keep_end"},
                             training={"max_steps": 2, "batch_size": 8})
        config["model"]["tiny"]["max_seq_len"] = 128
        code, events = run_in_process(config, "dpo", self.tmp)
        self.assertEqual(code, 0)
        start = of_type(events, "start")[0]
        self.assertEqual((start["data"]["train_pairs"], start["data"]["eval_pairs"]), (32, 8))
        truncation = start["data"]["truncation"]
        self.assertEqual((truncation["train"]["policy"], truncation["train"]["pairs"], truncation["train"]["dropped"]),
                         ("keep_end", 32, 0))
        self.assertGreater(truncation["train"]["answer_cut"], 0)
        self.assertEqual(truncation["eval"]["pairs"], 8)
        self.assertEqual(start["data"]["split"], {"source": "fraction", "by": "prompt", "train_prompts": 32,
                                                  "eval_prompts": 8, "shared_prompts": 0,
                                                  "method": "sha256(seed:sha256(prompt)) order"})
        self.assertAlmostEqual(of_type(events, "metric")[0]["loss"], math.log(2), places=5)
        self.assertEqual(of_type(events, "eval")[-1]["metrics"]["pairs"], 8)
