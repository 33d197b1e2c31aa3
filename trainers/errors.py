"""Errors as data: one base error with a ``code``, and the single code -> exit-code map."""

from __future__ import annotations

from typing import Any, Dict, Optional

# Exit codes of the worker process. The TypeScript side maps these; keep in sync with README.md.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_CONFIG = 2
EXIT_DATA = 3
EXIT_OUT_OF_MEMORY = 4

_EXIT_BY_CODE = {
    "CONFIG_INVALID": EXIT_CONFIG,
    "DATA_INVALID": EXIT_DATA,
    "OUT_OF_MEMORY": EXIT_OUT_OF_MEMORY,
    "INTERNAL": EXIT_INTERNAL,
}


class TrainerError(Exception):
    """A failure the worker reports as an ``error`` event; ``code`` picks the exit code."""

    code = "INTERNAL"

    def __init__(self, message: str, *, cause: Optional[BaseException] = None, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = {k: v for k, v in details.items() if v is not None}
        if cause is not None:
            self.__cause__ = cause

    def to_event(self) -> Dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


class ConfigError(TrainerError):
    """The config (or the command line) is invalid; ``field`` is a dotted path like ``dpo.beta``."""

    code = "CONFIG_INVALID"

    def __init__(self, field: str, message: str, **kwargs: Any):
        super().__init__(f"config field '{field}': {message}", field=field, **kwargs)
        self.field = field


DATA_ERROR_REASONS = ("row", "encoding", "unreadable", "empty", "split", "length")


class DataError(TrainerError):
    """A data file is unreadable or a row is malformed; names the file and the 1-based line. ``reason`` says which
    kind, so that the caller can say what to do: ``row`` (a malformed row), ``encoding`` (not UTF-8), ``unreadable``,
    ``empty`` (no pairs), ``split`` (too few pairs or prompts to hold some out), ``length`` (no pair fits
    data.max_length)."""

    code = "DATA_INVALID"

    def __init__(self, file: str, line: Optional[int], message: str, *, reason: str = "row", **kwargs: Any):
        assert reason in DATA_ERROR_REASONS, reason
        where = f"{file}:{line}" if line is not None else file
        super().__init__(f"{where}: {message}", file=file, line=line, reason=reason, **kwargs)
        self.file = file
        self.line = line
        self.reason = reason


class OutOfMemoryError(TrainerError):
    """The accelerator (or host) ran out of memory."""

    code = "OUT_OF_MEMORY"


def is_out_of_memory(error: BaseException) -> bool:
    """True for torch's CUDA OOM, host ``MemoryError`` and RuntimeErrors that say 'out of memory'."""
    if isinstance(error, (MemoryError, OutOfMemoryError)):
        return True
    try:
        import torch

        oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
        if oom_type is not None and isinstance(error, oom_type):
            return True
    except Exception:  # pragma: no cover - torch import failure is reported elsewhere
        pass
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


def classify(error: BaseException) -> TrainerError:
    """Turn any exception into a TrainerError (OOM detection included)."""
    if isinstance(error, TrainerError):
        return error
    if is_out_of_memory(error):
        return OutOfMemoryError(f"out of memory: {error}".strip(), cause=error)
    return TrainerError(f"{type(error).__name__}: {error}", cause=error)


def exit_code_for(error: BaseException) -> int:
    """The process exit code for an error; the one place codes map to exit statuses."""
    return _EXIT_BY_CODE.get(classify(error).code, EXIT_INTERNAL)
