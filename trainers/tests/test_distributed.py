"""Two CPU processes under the torchrun environment contract (gloo DDP).

The processes are started with the variables torchrun sets (WORLD_SIZE, RANK, LOCAL_RANK,
MASTER_ADDR, MASTER_PORT) rather than by torchrun itself, whose Debian 1.13 build fails on
Python 3.11; the worker only reads those variables.
"""

import json
import os
import socket
import subprocess
import unittest

import torch.distributed

from .helpers import (REPO_ROOT, TempDirTestCase, run_in_process, synthetic_rows, tiny_config, worker_command,
                      worker_env, write_config, write_jsonl)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@unittest.skipUnless(torch.distributed.is_available() and torch.distributed.is_gloo_available(), "needs gloo")
class DDPTest(TempDirTestCase):
    def test_two_ranks_match_one_process_with_the_global_batch(self):
        train = write_jsonl(os.path.join(self.tmp, "train.jsonl"), synthetic_rows(48, seed=1))
        common = {"lr_scheduler_type": "constant", "max_steps": 3}
        eff = {"length_bucketing": False}
        ddp_config = tiny_config(self.tmp, train=train, run_dir=os.path.join(self.tmp, "ddp"), efficiency=eff,
                                 training={**common, "batch_size": 4, "gradient_accumulation_steps": 1})
        path = write_config(self.tmp, ddp_config)
        port = str(free_port())
        processes = []
        for rank in (1, 0):
            env = {**worker_env(), "WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank),
                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port}
            processes.append(subprocess.Popen(worker_command("rm", "--config", path), cwd=REPO_ROOT, env=env,
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        outputs = [p.communicate(timeout=120) for p in processes]
        for p, (_, err) in zip(processes, outputs):
            self.assertEqual(p.returncode, 0, err)
        rank1_stdout, rank0_stdout = outputs[0][0], outputs[1][0]
        self.assertEqual(rank1_stdout, "")  # only rank 0 emits
        events = [json.loads(line) for line in rank0_stdout.splitlines()]
        self.assertEqual(events[0]["world_size"], 2)
        self.assertEqual(events[-1]["status"], "completed")
        ddp_losses = [e["loss"] for e in events if e["type"] == "metric"]

        single = tiny_config(self.tmp, train=train, run_dir=os.path.join(self.tmp, "single"), efficiency=eff,
                             training={**common, "batch_size": 8})
        _, single_events = run_in_process(single, "rm", self.tmp)
        single_losses = [e["loss"] for e in single_events if e["type"] == "metric"]
        self.assertEqual(len(ddp_losses), 3)
        for a, b in zip(ddp_losses, single_losses):
            self.assertAlmostEqual(a, b, places=5)


if __name__ == "__main__":
    unittest.main()
