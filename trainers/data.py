"""Preference pairs: reading pairs.jsonl files and normalising them to prompt/chosen/rejected.

Accepted rows (one JSON object a line, blank lines skipped, ``.gz`` read transparently):

* TRL standard, explicit prompt: ``{"prompt": str, "chosen": str, "rejected": str}``
* TRL conversational: the same keys holding lists of ``{"role", "content"}`` messages
* implicit prompt (no ``prompt``): the shared beginning of chosen and rejected is the prompt;
  HH-RLHF strings (``"\\n\\nHuman: ...\\n\\nAssistant: ..."``) are split after the last
  ``"\\n\\nAssistant:"`` both sides share
* optional ``margin`` (number), used by the reward-model loss
* optional ``label_smoothing`` (0-0.5) and ``consensus_probability`` (0-1): the panel's uncertainty columns, used
  as per-pair label smoothing with ``data.pair_label_smoothing``
* optional ``chosen_ended`` and ``rejected_ended`` (booleans, absent = true): ``false`` marks a completion that was cut
  off (a sample that hit ``max_new_tokens``); it gets no EOS, so training never teaches stopping where sampling did

Any bad row raises ``DataError`` naming the file and 1-based line.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from .errors import DataError

HH_ASSISTANT = "\n\nAssistant:"

Messages = List[dict]
Content = Union[str, Messages]


@dataclass(frozen=True)
class PreferencePair:
    """One normalised row: a prompt and two completions, all text or all message lists."""

    prompt: Content
    chosen: Content
    rejected: Content
    margin: Optional[float]
    file: str
    line: int
    # the panel's uncertainty columns (tribunal label --uncertainty), when the row has them
    label_smoothing: Optional[float] = None
    consensus_probability: Optional[float] = None
    # False: the completion was cut off (sampling hit its token limit), so it did not end and gets no EOS
    chosen_ended: bool = True
    rejected_ended: bool = True


def _open_bytes(path: str):
    if path.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _check_messages(value: Any, key: str, file: str, line: int) -> Messages:
    if not isinstance(value, list):
        raise DataError(file, line, f"'{key}' must be a string or a list of messages")
    for i, message in enumerate(value):
        if (not isinstance(message, dict) or not isinstance(message.get("role"), str)
                or not isinstance(message.get("content"), str)):
            raise DataError(file, line, f"'{key}[{i}]' must be an object with string 'role' and 'content'")
    return [{"role": m["role"], "content": m["content"]} for m in value]


def _common_prefix_length(a: Sequence[Any], b: Sequence[Any]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _split_implicit_text(chosen: str, rejected: str, file: str, line: int) -> Tuple[str, str, str]:
    shared = chosen[: _common_prefix_length(chosen, rejected)]
    if HH_ASSISTANT in chosen and HH_ASSISTANT in rejected:
        cut = shared.rfind(HH_ASSISTANT)
        if cut < 0:
            raise DataError(file, line, "HH-RLHF row: chosen and rejected share no '\\n\\nAssistant:' turn")
        cut += len(HH_ASSISTANT)
    else:
        # TRL's extract_prompt: the common prefix, minus a trailing space before the answers
        cut = len(shared)
        if 0 < cut < min(len(chosen), len(rejected)) and chosen[cut - 1] == " ":
            cut -= 1
    return chosen[:cut], chosen[cut:], rejected[cut:]


def parse_row(obj: Any, file: str, line: int) -> PreferencePair:
    """Validate one decoded JSON row and split off its prompt."""
    if not isinstance(obj, dict):
        raise DataError(file, line, "each line must be a JSON object with 'chosen' and 'rejected'")
    for key in ("chosen", "rejected"):
        if key not in obj:
            raise DataError(file, line, f"missing '{key}'")
    chosen, rejected, prompt = obj["chosen"], obj["rejected"], obj.get("prompt")
    conversational = isinstance(chosen, list)
    if conversational:
        chosen = _check_messages(chosen, "chosen", file, line)
        rejected = _check_messages(rejected, "rejected", file, line)
        if prompt is not None:
            prompt = _check_messages(prompt, "prompt", file, line)
    else:
        if not isinstance(chosen, str):
            raise DataError(file, line, "'chosen' must be a string or a list of messages")
        if not isinstance(rejected, str):
            raise DataError(file, line, "'rejected' must be a string like 'chosen'")
        if prompt is not None and not isinstance(prompt, str):
            raise DataError(file, line, "'prompt' must be a string like 'chosen'")
    margin = obj.get("margin")
    if margin is not None:
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not math.isfinite(margin):
            raise DataError(file, line, "'margin' must be a finite number")
        margin = float(margin)
    uncertainty = {}
    for key, high in (("label_smoothing", 0.5), ("consensus_probability", 1.0)):
        value = obj.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= high:
            raise DataError(file, line, f"'{key}' must be a number from 0 to {high}")
        uncertainty[key] = float(value)
    ended = {}
    for key in ("chosen_ended", "rejected_ended"):
        if key in obj:
            if not isinstance(obj[key], bool):
                raise DataError(file, line, f"'{key}' must be true or false (false: the completion was cut off), "
                                            f"not {json.dumps(obj[key])[:40]}")
            ended[key] = obj[key]
    if prompt is None:
        if conversational:
            k = _common_prefix_length(chosen, rejected)
            prompt, chosen, rejected = chosen[:k], chosen[k:], rejected[k:]
        else:
            prompt, chosen, rejected = _split_implicit_text(chosen, rejected, file, line)
    return PreferencePair(prompt=prompt, chosen=chosen, rejected=rejected, margin=margin, file=file, line=line,
                          **uncertainty, **ended)


def read_pairs(path: str, *, max_rows: Optional[int] = None) -> List[PreferencePair]:
    """Read a pairs.jsonl(.gz) file; raises DataError on the first bad row (its ``reason`` says which kind).

    Lines are decoded one by one, so a byte sequence that is not UTF-8 is reported with its line number."""
    pairs: List[PreferencePair] = []
    try:
        with _open_bytes(path) as handle:
            for line_number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as error:
                    raise DataError(path, line_number, f"is not UTF-8 text (byte 0x{raw[error.start]:02x} at column "
                                                       f"{error.start + 1})", reason="encoding")
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as error:
                    raise DataError(path, line_number, f"invalid JSON ({error.msg}, column {error.colno})")
                pairs.append(parse_row(obj, path, line_number))
                if max_rows is not None and len(pairs) >= max_rows:
                    break
    except DataError:
        raise
    except (OSError, EOFError) as error:
        raise DataError(path, None, f"cannot read file: {error}", reason="unreadable")
    if not pairs:
        raise DataError(path, None, "contains no preference pairs", reason="empty")
    return pairs


def prompt_key(prompt: Content) -> str:
    """A stable identity of a prompt: sha256 of its text, or of its messages as canonical JSON. Pairs with the same
    prompt (``all-pairs`` binarisation writes several per prompt) share a key, so they land on one side of a split."""
    text = prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_holdout(pairs: List[PreferencePair], fraction: float, seed: int) -> Tuple[List[PreferencePair], List[PreferencePair]]:
    """Deterministically hold out about ``fraction`` of the pairs, whole prompts at a time.

    Prompts are ranked by ``sha256(f"{seed}:{prompt_key(prompt)}")`` and held out in that order until the held-out
    pairs reach ``round(fraction * len(pairs))`` (at least one prompt). Every pair of a prompt is on the same side, and a
    prompt's side depends only on the seed and the prompt, not on the file's order. Both lists keep the file's order."""
    if fraction <= 0:
        return pairs, []
    by_prompt: Dict[str, List[int]] = {}
    for i, pair in enumerate(pairs):
        by_prompt.setdefault(prompt_key(pair.prompt), []).append(i)
    if len(by_prompt) < 2:
        raise DataError(pairs[0].file, None,
                        f"eval_fraction {fraction} needs at least two distinct prompts to hold one out; "
                        f"the file has {len(pairs)} pair(s) with {len(by_prompt)} prompt", reason="split")
    ranked = sorted(by_prompt, key=lambda key: hashlib.sha256(f"{seed}:{key}".encode()).hexdigest())
    target = max(1, int(round(len(pairs) * fraction)))
    held: set = set()
    for key in ranked:
        if len(held) >= target:
            break
        held.update(by_prompt[key])
    if len(held) >= len(pairs):
        raise DataError(pairs[0].file, None,
                        f"eval_fraction {fraction} leaves no training pairs out of {len(pairs)} "
                        f"({len(by_prompt)} prompts, held out whole)", reason="split")
    return [p for i, p in enumerate(pairs) if i not in held], [p for i, p in enumerate(pairs) if i in held]


def split_summary(train: List[PreferencePair], held: List[PreferencePair], *, source: str) -> Dict[str, Any]:
    """How the held-out split was made, for the start event: ``source`` "file" (data.eval), "fraction" (by prompt) or
    "none", with the distinct prompts on each side and how many appear on both (0 for a fraction split)."""
    train_keys = {prompt_key(p.prompt) for p in train}
    held_keys = {prompt_key(p.prompt) for p in held}
    summary: Dict[str, Any] = {"source": source, "train_prompts": len(train_keys), "eval_prompts": len(held_keys),
                               "shared_prompts": len(train_keys & held_keys)}
    if source == "fraction":
        summary["by"] = "prompt"
        summary["method"] = "sha256(seed:sha256(prompt)) order"
    return summary
