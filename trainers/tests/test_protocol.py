"""The worker as the TypeScript side sees it: a subprocess speaking JSON lines, exit codes, SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import unittest

from trainers.errors import EXIT_CONFIG, EXIT_DATA, EXIT_INTERNAL, EXIT_OUT_OF_MEMORY, exit_code_for
from trainers.protocol import EVENT_TYPES

from .helpers import (REPO_ROOT, TempDirTestCase, run_worker, synthetic_rows, tiny_config, worker_command, worker_env,
                      write_config, write_jsonl)


def parse_events(stdout: str):
    """Every stdout line must be one protocol event."""
    events = []
    for line in stdout.splitlines():
        event = json.loads(line)
        assert event["v"] == 1, line
        assert event["type"] in EVENT_TYPES, line
        events.append(event)
    return events


class ProtocolTest(TempDirTestCase):
    def setUp(self):
        super().setUp()
        self.train = write_jsonl(os.path.join(self.tmp, "train.jsonl"), synthetic_rows(48, seed=1))
        self.eval = write_jsonl(os.path.join(self.tmp, "eval.jsonl"), synthetic_rows(16, seed=2))

    def test_train_then_eval_over_the_wire(self):
        config = tiny_config(self.tmp, train=self.train, eval=self.eval, training={"max_steps": 3, "logging_steps": 1})
        path = write_config(self.tmp, config)
        done = run_worker("rm", "--config", path)
        self.assertEqual(done.returncode, 0, done.stderr)
        events = parse_events(done.stdout)
        self.assertEqual([e["type"] for e in events], ["start", "metric", "metric", "metric", "checkpoint", "eval", "done"])
        self.assertEqual([e["seq"] for e in events], list(range(1, len(events) + 1)))
        metric = events[1]
        for key in ("step", "epoch", "loss", "lr", "tokens_per_s", "metrics", "grad_norm"):
            self.assertIn(key, metric)
        self.assertEqual(set(metric["metrics"]), {"accuracy", "margin", "mean_reward", "min_reward", "max_reward", "num_tokens"})
        self.assertEqual(metric["metrics"]["num_tokens"], metric["tokens"])
        self.assertEqual(events[-1]["status"], "completed")
        self.assertIn("accuracy", events[-2]["metrics"])
        self.assertIn("INFO", done.stderr)  # logs go to stderr
        with open(os.path.join(config["run_dir"], "events.jsonl"), encoding="utf-8") as handle:
            self.assertEqual(handle.read().splitlines(), done.stdout.splitlines())

        config["task"] = "rm"
        write_config(self.tmp, config)
        again = run_worker("eval", "--config", path)
        self.assertEqual(again.returncode, 0, again.stderr)
        events = parse_events(again.stdout)
        self.assertEqual([e["type"] for e in events], ["start", "eval", "done"])
        self.assertEqual(events[0]["step"], 3)

        # every held-out pair with its scores, in input order, agreeing with the reported metrics
        predictions_file = os.path.join(config["run_dir"], "predictions.jsonl")
        self.assertEqual(events[1]["predictions"], predictions_file)
        with open(predictions_file, encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle]
        with open(self.eval, encoding="utf-8") as handle:
            source = [json.loads(line) for line in handle]
        self.assertEqual([(r["file"], r["line"]) for r in rows], [(self.eval, n) for n in range(1, 17)])
        self.assertEqual([(r["prompt"], r["chosen"], r["rejected"]) for r in rows],
                         [(s["prompt"], s["chosen"], s["rejected"]) for s in source])
        metrics = events[1]["metrics"]
        for r in rows:
            self.assertAlmostEqual(r["margin"], r["reward_chosen"] - r["reward_rejected"], places=9)
            self.assertEqual(r["correct"], r["margin"] > 0)
        self.assertAlmostEqual(sum(r["correct"] for r in rows) / len(rows), metrics["accuracy"], places=9)
        self.assertAlmostEqual(sum(r["margin"] for r in rows) / len(rows), metrics["mean_margin"], places=6)
        self.assertEqual(sum(r["tie"] for r in rows), metrics["ties"])

    def test_stray_prints_go_to_stderr(self):
        script = ("import os; from trainers.protocol import capture_stdout, EventStream; out = capture_stdout(); "
                  "print('stray print'); os.system('echo from a child process'); "
                  "EventStream(out).emit('start', note='only this on stdout'); print('another stray')")
        done = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=worker_env(), capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(done.returncode, 0, done.stderr)
        events = parse_events(done.stdout)
        self.assertEqual([e["note"] for e in events], ["only this on stdout"])
        for text in ("stray print", "from a child process", "another stray"):
            self.assertIn(text, done.stderr)

    def assertErrorExit(self, done, code, error_code, **fields):
        self.assertEqual(done.returncode, code, done.stderr)
        events = parse_events(done.stdout)
        self.assertEqual(events[-1]["type"], "error")
        self.assertEqual(events[-1]["code"], error_code)
        for key, value in fields.items():
            self.assertEqual(events[-1][key], value, events[-1])
        return events[-1]

    def test_config_errors_exit_2_and_name_the_field(self):
        config = tiny_config(self.tmp, train=self.train, dpo={"beta": -1})
        event = self.assertErrorExit(run_worker("dpo", "--config", write_config(self.tmp, config)), EXIT_CONFIG,
                                     "CONFIG_INVALID", field="dpo.beta")
        self.assertIn("dpo.beta", event["message"])
        self.assertErrorExit(run_worker("dpo"), EXIT_CONFIG, "CONFIG_INVALID", field="argv")
        self.assertErrorExit(run_worker("eval", "--config", write_config(self.tmp, tiny_config(self.tmp, train=self.train))),
                             EXIT_CONFIG, "CONFIG_INVALID", field="task")

    def test_data_errors_exit_3_and_name_file_and_line(self):
        rows = synthetic_rows(4, seed=5)
        rows[2] = {"prompt": "Q", "chosen": "fine"}  # line 3 lacks 'rejected'
        bad = write_jsonl(os.path.join(self.tmp, "bad.jsonl"), rows)
        config = tiny_config(self.tmp, train=bad)
        event = self.assertErrorExit(run_worker("rm", "--config", write_config(self.tmp, config)), EXIT_DATA,
                                     "DATA_INVALID", file=bad, line=3)
        with open(os.path.join(config["run_dir"], "events.jsonl"), encoding="utf-8") as handle:
            self.assertEqual(json.loads(handle.read().splitlines()[-1])["message"], event["message"])

    def test_stops_with_a_checkpoint_when_the_process_that_started_it_dies(self):
        config = tiny_config(self.tmp, train=self.train, training={"max_steps": 100000, "logging_steps": 1})
        path = write_config(self.tmp, config)
        parent = subprocess.Popen(["sleep", "120"])
        process = subprocess.Popen(worker_command("rm", "--config", path), cwd=REPO_ROOT,
                                   env={**worker_env(), "TRAINERS_PARENT_PID": str(parent.pid)},
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            lines = []
            for line in process.stdout:
                lines.append(line)
                if json.loads(line)["type"] == "metric":
                    parent.kill()
                    parent.wait()  # reaped: the pid is gone, as when the CLI's own parent reaps it
                    break
            rest, stderr = process.communicate(timeout=120)
        finally:
            for p in (process, parent):
                if p.poll() is None:
                    p.kill()
        self.assertEqual(process.returncode, 0, stderr)
        events = parse_events("".join(lines) + rest)
        checkpoint, done = events[-2], events[-1]
        self.assertEqual(checkpoint["type"], "checkpoint")
        self.assertEqual((done["type"], done["status"], done["reason"]), ("done", "stopped", "parent exited"))
        self.assertIn(f"pid {parent.pid}) is gone", stderr)

    def test_sigterm_checkpoints_and_exits_cleanly_then_resumes(self):
        config = tiny_config(self.tmp, train=self.train, training={"max_steps": 100000, "logging_steps": 1})
        path = write_config(self.tmp, config)
        process = subprocess.Popen(worker_command("dpo", "--config", path), cwd=REPO_ROOT, env=worker_env(),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            lines = []
            for line in process.stdout:
                lines.append(line)
                if json.loads(line)["type"] == "metric":
                    process.send_signal(signal.SIGTERM)
                    break
            rest, stderr = process.communicate(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
        self.assertEqual(process.returncode, 0, stderr)
        events = parse_events("".join(lines) + rest)
        checkpoint, done = events[-2], events[-1]
        self.assertEqual(checkpoint["type"], "checkpoint")
        self.assertEqual((done["type"], done["status"], done["reason"]), ("done", "stopped", "SIGTERM"))
        self.assertEqual(done["checkpoint"], checkpoint["path"])
        self.assertTrue(os.path.isfile(os.path.join(checkpoint["path"], "trainer_state.json")))
        stopped_at = done["step"]
        self.assertGreaterEqual(stopped_at, 1)

        config["training"]["max_steps"] = stopped_at + 1  # resume="auto" picks the checkpoint up
        write_config(self.tmp, config)
        again = run_worker("dpo", "--config", path)
        self.assertEqual(again.returncode, 0, again.stderr)
        events = parse_events(again.stdout)
        self.assertEqual((events[0]["step"], events[0]["resumed_from"]), (stopped_at, checkpoint["path"]))
        self.assertEqual([e["step"] for e in events if e["type"] == "metric"], [stopped_at + 1])


class ExitCodeTest(unittest.TestCase):
    def test_out_of_memory_maps_to_4(self):
        import torch

        self.assertEqual(exit_code_for(torch.cuda.OutOfMemoryError("CUDA out of memory")), EXIT_OUT_OF_MEMORY)
        self.assertEqual(exit_code_for(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")), EXIT_OUT_OF_MEMORY)
        self.assertEqual(exit_code_for(MemoryError()), EXIT_OUT_OF_MEMORY)
        self.assertEqual(exit_code_for(RuntimeError("shape mismatch")), EXIT_INTERNAL)


if __name__ == "__main__":
    unittest.main()
