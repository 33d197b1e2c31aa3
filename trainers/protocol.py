"""The worker's event stream: JSON lines on the real stdout, mirrored to RUN_DIR/events.jsonl.

Every event is ``{"v": 1, "type": ..., "seq": n, "time": unix_seconds, ...}`` with ``type`` one of
``EVENT_TYPES``. Only rank 0 of a distributed run emits. Anything else the process prints goes to
stderr: ``capture_stdout()`` points file descriptor 1 (and ``sys.stdout``) at stderr and keeps a
private handle on the original stdout for events.
"""

from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from typing import IO, Any, Dict, Optional

from . import PROTOCOL_VERSION

EVENT_TYPES = ("start", "metric", "eval", "checkpoint", "done", "error", "progress", "sample")  # sample: generate only


def capture_stdout() -> IO[str]:
    """Redirect fd 1 and ``sys.stdout`` to stderr; return a line-buffered writer on the original stdout.

    After this, ``print()``, C extensions writing to fd 1 and child processes inheriting fd 1 all
    land on stderr, so stdout carries nothing but events.
    """
    sys.stdout.flush()
    event_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(event_fd, "w", buffering=1, encoding="utf-8")


def _json_safe(value: Any) -> Any:
    """Make a value JSON-encodable: NaN/inf become null, tensors and numpy scalars become numbers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return _json_safe(item())
        except Exception:
            pass
    return str(value)


class EventStream:
    """Emits protocol events; a disabled stream (ranks other than 0) drops them."""

    def __init__(self, out: Optional[IO[str]] = None, *, enabled: bool = True):
        self._out = out
        self._enabled = enabled
        self._file: Optional[IO[str]] = None
        self._seq = 0
        self._lock = threading.Lock()
        self.history: list = []  # the events emitted, for in-process callers and tests

    @property
    def enabled(self) -> bool:
        return self._enabled

    def attach_run_dir(self, run_dir: str) -> None:
        """Also append every following event to ``run_dir/events.jsonl``."""
        if not self._enabled or self._file is not None:
            return
        os.makedirs(run_dir, exist_ok=True)
        self._file = open(os.path.join(run_dir, "events.jsonl"), "a", encoding="utf-8", buffering=1)

    def emit(self, type: str, **fields: Any) -> Optional[Dict[str, Any]]:
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}")
        if not self._enabled:
            return None
        with self._lock:
            self._seq += 1
            event = {"v": PROTOCOL_VERSION, "type": type, "seq": self._seq, "time": round(time.time(), 3)}
            event.update(_json_safe(fields))
            line = json.dumps(event, allow_nan=False, ensure_ascii=False)
            for sink in (self._out, self._file):
                if sink is not None:
                    try:
                        sink.write(line + "\n")
                        sink.flush()
                    except (BrokenPipeError, ValueError):
                        pass  # reader went away; keep training and checkpointing
            self.history.append(event)
            return event

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
