"""bench_gpu.py runs end to end on CPU with --smoke and writes its JSON report."""

import json
import os
import subprocess
import sys

from .helpers import REPO_ROOT, TempDirTestCase, worker_env


class BenchSmokeTest(TempDirTestCase):
    def test_smoke_run_writes_a_report(self):
        out = os.path.join(self.tmp, "bench.json")
        done = subprocess.run([sys.executable, os.path.join("trainers", "bench_gpu.py"), "--smoke", "--device", "cpu",
                               "--out", out], cwd=REPO_ROOT, env=worker_env(), capture_output=True, text=True, timeout=120)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout, "")
        with open(out, encoding="utf-8") as handle:
            report = json.load(handle)
        self.assertTrue(report["smoke"])
        names = [r["name"] for r in report["results"]]
        self.assertIn("separate+full_logits", names)
        self.assertIn("concat+chunked+bf16", names)
        measured = [r for r in report["results"] if "tokens_per_s" in r]
        self.assertEqual(len(measured), 4)  # the fp32 variants; bf16 ones are skipped off CUDA
        for r in measured:
            self.assertGreater(r["tokens_per_s"], 0)
            self.assertIsNone(r["peak_memory_bytes"])
        # same model, same batches: the switches change speed and memory, not the loss
        self.assertLess(report["fp32_first_loss_spread"], 1e-4)
