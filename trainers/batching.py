"""From normalised pairs to padded tensors: tokenisation, truncation, collation, batch order.

Sequences are right-padded; ``labels`` hold the token ids on completion positions and -100
elsewhere (prompt and padding), the convention of TRL and transformers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from .data import PreferencePair

IGNORE_INDEX = -100


@dataclass(frozen=True)
class Example:
    """A tokenised pair. ``*_tokens`` are completion lengths before truncation; ``source`` is the pair's position in
    the list given to ``tokenize_pairs`` (pairs may be dropped, so it can differ from ``index``)."""

    index: int
    prompt_ids: List[int]
    chosen_ids: List[int]
    rejected_ids: List[int]
    margin: float
    chosen_tokens: int
    rejected_tokens: int
    source: Optional[int] = None
    label_smoothing: float = 0.0

    @property
    def length(self) -> int:
        return len(self.prompt_ids) + max(len(self.chosen_ids), len(self.rejected_ids))


# data.truncation: what happens to a pair whose prompt + longer answer exceed max_length
TRUNCATION_POLICIES = ("keep_answers", "drop", "keep_end", "keep_start")


def render_pair(pair: PreferencePair, tokenizer) -> Tuple[str, str, str]:
    """Text of prompt and completions; conversations go through the tokenizer's chat format. A cut-off completion
    (``chosen_ended`` / ``rejected_ended`` false) is rendered as it was sampled: the chat format's generation prompt and
    its last message's text, without the end-of-turn marker the format would close a finished message with."""
    if isinstance(pair.chosen, str):
        return pair.prompt, pair.chosen, pair.rejected  # type: ignore[return-value]
    prompt_messages = list(pair.prompt)  # type: ignore[arg-type]
    prompt_text = tokenizer.render_chat(prompt_messages, add_generation_prompt=bool(prompt_messages)) if prompt_messages else ""

    def completion(messages: List[dict], ended: bool) -> str:
        if ended or not messages:
            full = tokenizer.render_chat(prompt_messages + messages, add_generation_prompt=False)
        else:
            head = prompt_messages + messages[:-1]
            full = (tokenizer.render_chat(head, add_generation_prompt=True) if head else "") + messages[-1]["content"]
        if full.startswith(prompt_text):
            return full[len(prompt_text):]
        i = 0
        while i < min(len(full), len(prompt_text)) and full[i] == prompt_text[i]:
            i += 1
        return full[i:]

    return (prompt_text, completion(list(pair.chosen), pair.chosen_ended),  # type: ignore[arg-type]
            completion(list(pair.rejected), pair.rejected_ended))  # type: ignore[arg-type]


def _cut_prompt(prompt: List[int], keep: int, bos: Optional[int]) -> List[int]:
    """The prompt's last ``keep`` tokens, BOS kept in front when the prompt had it."""
    if len(prompt) <= keep:
        return prompt
    if bos is not None and prompt and prompt[0] == bos:
        return [bos] + prompt[len(prompt) - (keep - 1):] if keep > 1 else [bos]
    return prompt[len(prompt) - keep:]


def pair_smoothing(pair: PreferencePair, column: str, default: float) -> Optional[float]:
    """Per-pair label smoothing eps_i from the row's ``column`` (``label_smoothing``: itself; ``consensus_probability``
    p: min(0.5, 1 - p)); None when the row lacks it (the caller then uses ``default``)."""
    if column == "label_smoothing":
        return pair.label_smoothing
    if column == "consensus_probability":
        return None if pair.consensus_probability is None else min(0.5, max(0.0, 1.0 - pair.consensus_probability))
    return default


def tokenize_pairs(pairs: Sequence[PreferencePair], tokenizer, *, max_length: int, max_prompt_length: int,
                   truncation: str = "keep_answers", smoothing_column: str = "off",
                   default_smoothing: float = 0.0) -> Tuple[List[Example], Dict[str, int]]:
    """Tokenise pairs TRL-style: BOS before the prompt, EOS after each completion that ended (a completion its row marks
    cut off, ``chosen_ended`` / ``rejected_ended`` false, gets none). A pair longer than ``max_length`` (prompt + longer
    answer) is handled by ``truncation``:

    * ``keep_answers`` (default): keep the prompt's last ``max_prompt_length`` tokens (BOS kept); a pair whose answers
      still do not fit is dropped. No answer is ever cut, so a reward is always read at the answer's real end (its EOS,
      or a cut-off answer's last token).
    * ``drop``: TRL RewardTrainer's policy: drop the pair, cut nothing.
    * ``keep_end``: cut the prompt as ``keep_answers`` does, then keep each answer's last tokens (its end, and its EOS
      when it ended).
    * ``keep_start``: cut the prompt as ``keep_answers`` does, then keep each answer's first tokens (TRL DPOTrainer's
      ``keep_start``; the answer's end and EOS are lost, so a reward model reads its score mid-answer).

    Stats: ``pairs`` kept, ``dropped``, ``prompt_cut``, ``answer_cut`` (pairs with at least one answer cut),
    ``truncated`` (pairs kept with anything cut), ``empty_answers`` (pairs with an empty chosen or rejected answer),
    ``identical_answers`` (the same text, and both ended or both cut off), ``cut_off_answers`` (pairs with a cut-off
    chosen or rejected answer)."""
    if truncation not in TRUNCATION_POLICIES:
        raise ValueError(f"unknown truncation policy {truncation!r}")
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    examples: List[Example] = []
    stats = {"dropped": 0, "prompt_cut": 0, "answer_cut": 0, "truncated": 0, "empty_answers": 0,
             "identical_answers": 0, "cut_off_answers": 0, "smoothing_missing": 0}
    for source, pair in enumerate(pairs):
        prompt_text, chosen_text, rejected_text = render_pair(pair, tokenizer)
        if not chosen_text.strip() or not rejected_text.strip():
            stats["empty_answers"] += 1
        if chosen_text == rejected_text and (pair.chosen_ended == pair.rejected_ended or eos is None):
            stats["identical_answers"] += 1
        if not (pair.chosen_ended and pair.rejected_ended):
            stats["cut_off_answers"] += 1
        prompt = tokenizer.encode(prompt_text)
        if bos is not None and (not prompt or prompt[0] != bos):
            prompt = [bos] + prompt
        chosen, rejected = tokenizer.encode(chosen_text), tokenizer.encode(rejected_text)
        # EOS ends a completion that ended; a cut-off one (its row's *_ended false) did not, so it gets none: training
        # must not teach the policy to stop where sampling was cut off. Everything below (lengths, truncation, where a
        # reward or the log-probs are read) then sees the completion as it is, so a reward model scores a cut-off
        # answer at its last token and DPO sums exactly its tokens.
        if eos is not None:
            chosen = chosen + [eos] if pair.chosen_ended else chosen
            rejected = rejected + [eos] if pair.rejected_ended else rejected
        chosen_tokens, rejected_tokens = len(chosen), len(rejected)
        longer = max(len(chosen), len(rejected))
        prompt_cut = answer_cut = False
        if len(prompt) + longer > max_length:
            if truncation == "drop":
                stats["dropped"] += 1
                continue
            cut = _cut_prompt(prompt, max_prompt_length, bos)
            prompt_cut = len(cut) < len(prompt)
            prompt = cut
            if len(prompt) + longer > max_length:
                if truncation == "keep_answers":
                    stats["dropped"] += 1
                    continue
                keep = max_length - len(prompt)
                if truncation == "keep_end":
                    chosen, rejected = chosen[max(0, len(chosen) - keep):], rejected[max(0, len(rejected) - keep):]
                else:
                    chosen, rejected = chosen[:keep], rejected[:keep]
                answer_cut = True
        smoothing = pair_smoothing(pair, smoothing_column, default_smoothing)
        if smoothing is None:
            stats["smoothing_missing"] += 1
            smoothing = default_smoothing
        stats["prompt_cut"] += prompt_cut
        stats["answer_cut"] += answer_cut
        stats["truncated"] += prompt_cut or answer_cut
        examples.append(Example(index=len(examples), prompt_ids=prompt, chosen_ids=chosen, rejected_ids=rejected,
                                margin=pair.margin if pair.margin is not None else 0.0,
                                chosen_tokens=chosen_tokens, rejected_tokens=rejected_tokens, source=source,
                                label_smoothing=smoothing))
    stats["pairs"] = len(examples)
    return examples, stats


def collate_sequences(sequences: Sequence[Tuple[List[int], List[int]]], pad_token_id: int) -> Dict[str, torch.Tensor]:
    """Right-pad (prompt, completion) id lists into input_ids, attention_mask and labels."""
    width = max(len(p) + len(c) for p, c in sequences)
    n = len(sequences)
    input_ids = torch.full((n, width), pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((n, width), dtype=torch.long)
    labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
    for row, (prompt, completion) in enumerate(sequences):
        ids = prompt + completion
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, : len(ids)] = 1
        if completion:
            labels[row, len(prompt): len(ids)] = torch.tensor(completion, dtype=torch.long)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


def collate_pairs(examples: Sequence[Example], pad_token_id: int, *, concatenated: bool) -> Dict[str, object]:
    """A batch of pairs: one [2B, T] block (chosen rows then rejected rows) when ``concatenated``,
    else separate ``chosen`` and ``rejected`` blocks each padded to its own length."""
    chosen = [(e.prompt_ids, e.chosen_ids) for e in examples]
    rejected = [(e.prompt_ids, e.rejected_ids) for e in examples]
    batch: Dict[str, object] = {
        "index": torch.tensor([e.index for e in examples], dtype=torch.long),
        "margin": torch.tensor([e.margin for e in examples], dtype=torch.float32),
        "label_smoothing": torch.tensor([e.label_smoothing for e in examples], dtype=torch.float32),
        "chosen_longer": torch.tensor([(e.chosen_tokens > e.rejected_tokens) - (e.chosen_tokens < e.rejected_tokens)
                                       for e in examples], dtype=torch.long),
    }
    if concatenated:
        batch["concatenated"] = collate_sequences(chosen + rejected, pad_token_id)
    else:
        batch["chosen"] = collate_sequences(chosen, pad_token_id)
        batch["rejected"] = collate_sequences(rejected, pad_token_id)
    return batch


def count_tokens(batch: Dict[str, object]) -> int:
    blocks = [batch["concatenated"]] if "concatenated" in batch else [batch["chosen"], batch["rejected"]]
    return int(sum(int(b["attention_mask"].sum()) for b in blocks))  # type: ignore[index]


class BatchSchedule:
    """Deterministic batch order per epoch, a pure function of (seed, epoch): resumable by position.

    With length bucketing, each window of ``batch_size * bucket_multiplier`` shuffled pairs is sorted
    by length and cut into batches, and the batches are shuffled. Under DDP every rank gets the same
    number of batches (the global list is trimmed to a multiple of the world size).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, seed: int, bucketing: bool,
                 bucket_multiplier: int = 16, world_size: int = 1, rank: int = 0):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.bucketing = bucketing
        self.bucket_multiplier = bucket_multiplier
        self.world_size = world_size
        self.rank = rank
        total = -(-len(self.lengths) // batch_size)
        self.batches_per_epoch = max(1, total // world_size) if total >= world_size else 1

    def epoch_batches(self, epoch: int) -> List[List[int]]:
        rng = random.Random(f"batches:{self.seed}:{epoch}")
        order = list(range(len(self.lengths)))
        rng.shuffle(order)
        batches: List[List[int]] = []
        if self.bucketing:
            window = self.batch_size * self.bucket_multiplier
            for start in range(0, len(order), window):
                chunk = sorted(order[start: start + window], key=lambda i: (-self.lengths[i], i))
                batches.extend(chunk[j: j + self.batch_size] for j in range(0, len(chunk), self.batch_size))
            rng.shuffle(batches)
        else:
            batches = [order[j: j + self.batch_size] for j in range(0, len(order), self.batch_size)]
        if self.world_size > 1:
            if len(batches) < self.world_size:  # tiny data: every rank reuses the first batch
                batches = [batches[0]] * self.world_size
            usable = (len(batches) // self.world_size) * self.world_size
            batches = batches[:usable][self.rank:: self.world_size]
        return batches


def eval_batches(lengths: Sequence[int], batch_size: int, *, world_size: int = 1, rank: int = 0) -> List[List[int]]:
    """Length-sorted batches covering every example once, split round-robin across ranks."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches = [order[j: j + batch_size] for j in range(0, len(order), batch_size)]
    return batches[rank::world_size]
