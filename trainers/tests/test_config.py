"""Config validation: defaults, errors that name the field, and README coverage."""

import os
import unittest

from trainers.config import field_docs, load_config, parse_config
from trainers.errors import ConfigError

from .helpers import REPO_ROOT, TempDirTestCase, write_config

MINIMAL = {"run_dir": "run", "data": {"train": "pairs.jsonl"}}


def _with(**sections):
    raw = {**MINIMAL}
    raw.update(sections)
    return raw


class ConfigTest(TempDirTestCase):
    def assertFieldError(self, raw, field, task=None):
        with self.assertRaises(ConfigError) as ctx:
            parse_config(raw, base_dir=self.tmp, task=task)
        self.assertEqual(ctx.exception.field, field, str(ctx.exception))
        self.assertIn(field, str(ctx.exception))

    def test_defaults_and_relative_paths(self):
        path = write_config(self.tmp, {**MINIMAL, "model": "tiny"})
        config = load_config(path, task="dpo")
        self.assertEqual(config.task, "dpo")
        self.assertEqual(config.data.train, os.path.join(self.tmp, "pairs.jsonl"))
        self.assertEqual(config.run_dir, os.path.join(self.tmp, "run"))
        self.assertEqual((config.dpo.beta, config.dpo.loss_type, config.model.kind), (0.1, "sigmoid", "tiny"))
        self.assertTrue(config.efficiency.chunked_log_probs and config.efficiency.precompute_ref_log_probs)

    def test_errors_name_the_field(self):
        self.assertFieldError({"run_dir": "r"}, "data")
        self.assertFieldError(_with(dpo={"betaa": 1}), "dpo.betaa")
        self.assertFieldError(_with(dpo={"beta": 0}), "dpo.beta")
        self.assertFieldError(_with(dpo={"loss_type": "kto"}), "dpo.loss_type")
        self.assertFieldError(_with(training={"batch_size": 2.5}), "training.batch_size")
        self.assertFieldError(_with(training={"batch_size": True}), "training.batch_size")
        self.assertFieldError(_with(efficiency={"bf16": "yes"}), "efficiency.bf16")
        self.assertFieldError(_with(model={"kind": "hf"}), "model.path")
        self.assertFieldError(_with(lora={"target_modules": "q_proj"}), "lora.target_modules")
        self.assertFieldError(_with(dpo={"loss_type": "hinge", "label_smoothing": 0.1}), "dpo.label_smoothing")
        self.assertFieldError(_with(data={"train": "p", "max_length": 8, "max_prompt_length": 8}), "data.max_prompt_length")
        self.assertFieldError(_with(task="rm"), "task", task="dpo")
        self.assertFieldError(_with(resume="no/such/dir"), "resume")

    def test_unreadable_or_invalid_json(self):
        with self.assertRaises(ConfigError) as ctx:
            load_config(os.path.join(self.tmp, "missing.json"))
        self.assertEqual(ctx.exception.field, "--config")
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as handle:
            handle.write("{nope")
        with self.assertRaises(ConfigError) as ctx:
            load_config(bad)
        self.assertIn("line 1", str(ctx.exception))

    def test_readme_documents_every_field(self):
        with open(os.path.join(REPO_ROOT, "trainers", "README.md"), encoding="utf-8") as handle:
            readme = handle.read()
        # ref_model takes the same fields as model
        names = [name.replace("ref_model.", "model.", 1) for name, *_ in field_docs()]
        missing = [name for name in names if f"`{name}`" not in readme]
        self.assertEqual(missing, [], "fields missing from trainers/README.md")


if __name__ == "__main__":
    unittest.main()
