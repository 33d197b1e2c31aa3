"""Shared test fixtures: synthetic preference data, tiny configs, in-process runs."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import unittest
from typing import Any, Dict, List, Optional

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HH_RLHF = os.path.join(REPO_ROOT, "..", "shared", "datasets", "hh-rlhf-harmless-base-test.jsonl.gz")
MARKER = "##"
LETTERS = "abcdefghijklmnopqrstuvwxyz   "


def synthetic_rows(n: int, seed: int) -> List[Dict[str, Any]]:
    """Pairs where the chosen answer contains the marker '##' and the rejected one does not.
    Lengths overlap so that 'chosen is longer' is not a shortcut."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        prompt = "Q: " + "".join(rng.choice(LETTERS[:26]) for _ in range(rng.randint(3, 6))) + "?\nA:"
        body = "".join(rng.choice(LETTERS) for _ in range(rng.randint(6, 14)))
        cut = rng.randint(0, len(body))
        chosen = " " + body[:cut] + MARKER + body[cut:]
        rejected = " " + "".join(rng.choice(LETTERS) for _ in range(rng.randint(5, 17)))
        rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
    return rows


def write_jsonl(path: str, rows: List[Any]) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def tiny_config(tmp: str, *, train: str, eval: Optional[str] = None, **overrides: Any) -> Dict[str, Any]:
    """A small, fast config; ``overrides`` are merged one level deep (sections) or set (scalars)."""
    config: Dict[str, Any] = {
        "run_dir": os.path.join(tmp, "run"),
        "seed": 0,
        "device": "cpu",
        "data": {"train": train, "max_length": 64, "max_prompt_length": 24},
        "model": {"kind": "tiny", "tiny": {"dim": 32, "n_layers": 2, "n_heads": 4, "max_seq_len": 64}},
        "training": {"batch_size": 8, "learning_rate": 3e-3, "max_steps": 4, "logging_steps": 1,
                     "save_steps": None, "warmup_steps": 0, "save_total_limit": None},
        "dpo": {"beta": 0.1},
        "eval": {"batch_size": 32},
    }
    if eval:
        config["data"]["eval"] = eval
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def write_config(tmp: str, config: Dict[str, Any], name: str = "config.json") -> str:
    path = os.path.join(tmp, name)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(config, handle)
    return path


class TempDirTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="trainers-test-")

    def tearDown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_in_process(config: Dict[str, Any], command: str, tmp: str, **kwargs: Any):
    """Run a command through the engine in this process; returns (exit code, events)."""
    import logging

    from trainers import engine
    from trainers.config import parse_config

    logging.getLogger("trainers").setLevel(logging.ERROR)
    from trainers.protocol import EventStream

    events = EventStream(None)
    parsed = parse_config(config, base_dir=tmp, task=command if command in ("rm", "dpo") else None)
    if command == "eval":
        code = engine.run_eval(parsed, events, **kwargs)
    else:
        code = engine.train(parsed, events, task=command)
    events.close()
    return code, events.history


def worker_command(*args: str) -> List[str]:
    return [sys.executable, "-m", "trainers", *args]


def worker_env() -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_worker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(worker_command(*args), cwd=REPO_ROOT, env=worker_env(), capture_output=True,
                          text=True, timeout=timeout)
