"""Command line: ``python3 -m trainers rm|dpo|eval|generate --config FILE [--checkpoint DIR]``.

The one place where errors become ``error`` events and exit codes (see ``errors.exit_code_for``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from typing import IO, List, Optional

from .errors import EXIT_INTERNAL, ConfigError, classify, exit_code_for
from .malloc import keep_freed_memory
from .protocol import EventStream, capture_stdout


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would print usage and exit 2 without an event
        raise ConfigError("argv", f"{message} (usage: python3 -m trainers rm|dpo|eval --config FILE)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python3 -m trainers", description="Tribunal's preference-training worker.")
    parser.add_argument("command", choices=("rm", "dpo", "eval", "generate"),
                        help="train a reward model, a DPO policy, evaluate, or sample a policy")
    parser.add_argument("--config", required=True, help="JSON config file (see trainers/README.md)")
    parser.add_argument("--checkpoint", help="eval: checkpoint folder (default: latest in run_dir)")
    return parser


def _is_main_rank() -> bool:
    try:
        return int(os.environ.get("RANK", "0")) == 0
    except ValueError:
        return True


def main(argv: Optional[List[str]] = None, *, event_out: Optional[IO[str]] = None) -> int:
    """Run one command; returns the exit code. Without ``event_out``, takes over stdout for events."""
    if event_out is None:  # a process of its own (not an in-process caller): tune its allocator
        event_out = capture_stdout()
        keep_freed_memory()
    logging.basicConfig(level=os.environ.get("TRAINERS_LOG_LEVEL", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    events = EventStream(event_out, enabled=_is_main_rank())
    try:
        args = _parser().parse_args(argv)
        if args.command == "generate":
            if args.checkpoint:
                raise ConfigError("--checkpoint", "generate takes its checkpoint from the config's 'checkpoint'")
            from .generate import load_generate_config, run_generate

            return run_generate(load_generate_config(args.config), events)
        from .config import load_config

        task = args.command if args.command in ("rm", "dpo") else None
        config = load_config(args.config, task=task)
        if args.checkpoint and args.command != "eval":
            raise ConfigError("--checkpoint", "only applies to the eval command; use the config's 'resume' to continue training")
        from . import engine  # torch is imported here: after stdout is captured and the config is valid

        if args.command == "eval":
            return engine.run_eval(config, events, checkpoint=args.checkpoint)
        return engine.train(config, events, task=args.command)
    except BaseException as error:  # noqa: BLE001 - everything becomes an error event
        if isinstance(error, SystemExit):
            raise
        if isinstance(error, KeyboardInterrupt):
            events.emit("error", code="INTERNAL", message="interrupted before training started")
            return EXIT_INTERNAL
        reported = classify(error)
        if reported.code == "INTERNAL":
            traceback.print_exc(file=sys.stderr)
        else:
            logging.getLogger("trainers").error("%s", reported.message)
        events.emit("error", **reported.to_event())
        return exit_code_for(error)
    finally:
        events.close()
