"""Reading preference files (TRL standard/conversational, HH-RLHF), tokenising and batching."""

import gzip
import json
import os
import unittest

from trainers.batching import BatchSchedule, collate_pairs, tokenize_pairs
from trainers.data import HH_ASSISTANT, parse_row, read_pairs, split_holdout, split_summary
from trainers.errors import DataError
from trainers.tokenizer import ByteTokenizer

from .helpers import HH_RLHF, TempDirTestCase, write_jsonl


class RowFormatsTest(unittest.TestCase):
    def test_standard_explicit_prompt(self):
        p = parse_row({"prompt": "Q?", "chosen": " yes", "rejected": " no", "margin": 2}, "f", 1)
        self.assertEqual((p.prompt, p.chosen, p.rejected, p.margin), ("Q?", " yes", " no", 2.0))

    def test_conversational_explicit_prompt(self):
        p = parse_row({"prompt": [{"role": "user", "content": "hi"}],
                       "chosen": [{"role": "assistant", "content": "hello"}],
                       "rejected": [{"role": "assistant", "content": "go away"}]}, "f", 1)
        self.assertEqual(p.prompt, [{"role": "user", "content": "hi"}])
        self.assertEqual(p.chosen[0]["content"], "hello")

    def test_conversational_implicit_prompt_is_the_shared_messages(self):
        user = {"role": "user", "content": "hi"}
        p = parse_row({"chosen": [user, {"role": "assistant", "content": "a"}],
                       "rejected": [user, {"role": "assistant", "content": "b"}]}, "f", 1)
        self.assertEqual(p.prompt, [user])
        self.assertEqual(p.rejected, [{"role": "assistant", "content": "b"}])

    def test_implicit_text_prompt_like_trl(self):
        p = parse_row({"chosen": "The sky is blue.", "rejected": "The sky is green."}, "f", 1)
        self.assertEqual((p.prompt, p.chosen, p.rejected), ("The sky is", " blue.", " green."))

    def test_hh_rlhf_split_after_last_shared_assistant_turn(self):
        dialogue = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how are you?\n\nAssistant:"
        p = parse_row({"chosen": dialogue + " Fine.", "rejected": dialogue + " Go away."}, "f", 1)
        self.assertEqual(p.prompt, dialogue)
        self.assertEqual((p.chosen, p.rejected), (" Fine.", " Go away."))

    def test_hh_rlhf_answer_containing_an_assistant_marker(self):
        dialogue = "\n\nHuman: a\n\nAssistant:"
        chosen = dialogue + " No.  Human: really?\n\nAssistant: yes"
        p = parse_row({"chosen": chosen, "rejected": dialogue + " Maybe."}, "f", 1)
        self.assertEqual(p.prompt, dialogue)
        self.assertEqual(p.chosen, " No.  Human: really?\n\nAssistant: yes")

    def test_bad_rows_name_the_problem(self):
        cases = [
            ([1, 2], "JSON object"),
            ({"chosen": "a"}, "missing 'rejected'"),
            ({"chosen": "a", "rejected": 3}, "'rejected' must be a string"),
            ({"chosen": "a", "rejected": "b", "prompt": ["x"]}, "'prompt' must be a string"),
            ({"chosen": [{"role": "assistant"}], "rejected": []}, "'chosen[0]'"),
            ({"chosen": "a", "rejected": "b", "margin": "big"}, "'margin'"),
            ({"chosen": "\n\nHuman: x\n\nAssistant: a", "rejected": "\n\nHuman: y\n\nAssistant: b"}, "share no"),
        ]
        for row, message in cases:
            with self.assertRaises(DataError, msg=row) as ctx:
                parse_row(row, "pairs.jsonl", 7)
            self.assertIn(message, str(ctx.exception))
            self.assertEqual((ctx.exception.file, ctx.exception.line), ("pairs.jsonl", 7))


class ReadFilesTest(TempDirTestCase):
    def test_line_numbers_count_blank_lines(self):
        path = write_jsonl(os.path.join(self.tmp, "p.jsonl"),
                           ['{"prompt": "a", "chosen": "b", "rejected": "c"}', "", '{"prompt": "a", "chosen": "b"'])
        with self.assertRaises(DataError) as ctx:
            read_pairs(path)
        self.assertEqual((ctx.exception.file, ctx.exception.line), (path, 3))
        self.assertIn("invalid JSON", str(ctx.exception))

    def test_gzip_and_max_rows(self):
        path = os.path.join(self.tmp, "p.jsonl.gz")
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            for i in range(5):
                handle.write(json.dumps({"prompt": str(i), "chosen": "b", "rejected": "c"}) + "\n")
        self.assertEqual([p.prompt for p in read_pairs(path, max_rows=3)], ["0", "1", "2"])

    def test_missing_and_empty_files(self):
        with self.assertRaises(DataError) as ctx:
            read_pairs(os.path.join(self.tmp, "nope.jsonl"))
        self.assertIsNone(ctx.exception.line)
        with self.assertRaises(DataError):
            read_pairs(write_jsonl(os.path.join(self.tmp, "empty.jsonl"), ["", ""]))

    def test_holdout_split_keeps_every_prompt_on_one_side(self):
        # all-pairs binarisation: 4 answers to each of 30 prompts make 6 pairs per prompt; a per-pair split put the
        # same prompt (and the same answers) on both sides
        rows = [{"prompt": f"question {q}?", "chosen": f" answer {a}", "rejected": f" answer {b}"}
                for q in range(30) for a in range(4) for b in range(a + 1, 4)]
        pairs = read_pairs(write_jsonl(os.path.join(self.tmp, "all-pairs.jsonl"), rows))
        train, held = split_holdout(pairs, 0.2, seed=0)
        self.assertFalse({p.prompt for p in train} & {p.prompt for p in held})
        self.assertEqual(len(held), 36)  # 6 whole prompts: round(0.2 * 180)
        self.assertEqual(len(train) + len(held), len(pairs))
        # a prompt's side does not depend on the file's order
        shuffled = read_pairs(write_jsonl(os.path.join(self.tmp, "reversed.jsonl"), rows[::-1]))
        self.assertEqual({p.prompt for p in split_holdout(shuffled, 0.2, seed=0)[1]}, {p.prompt for p in held})
        self.assertNotEqual({p.prompt for p in split_holdout(pairs, 0.2, seed=1)[1]}, {p.prompt for p in held})
        summary = split_summary(train, held, source="fraction")
        self.assertEqual((summary["by"], summary["eval_prompts"], summary["train_prompts"], summary["shared_prompts"]),
                         ("prompt", 6, 24, 0))

    def test_holdout_of_a_single_prompt_names_the_problem(self):
        pairs = read_pairs(write_jsonl(os.path.join(self.tmp, "one.jsonl"),
                                       [{"prompt": "q", "chosen": "a", "rejected": "b"}] * 3))
        with self.assertRaises(DataError) as ctx:
            split_holdout(pairs, 0.1, seed=0)
        self.assertEqual(ctx.exception.reason, "split")
        self.assertIn("two distinct prompts", str(ctx.exception))

    def test_non_utf8_bytes_are_reported_with_their_line(self):
        path = os.path.join(self.tmp, "latin1.jsonl")
        with open(path, "wb") as handle:
            handle.write(b'{"prompt": "a", "chosen": "b", "rejected": "c"}\n\n{"prompt": "caf\xe9", "chosen": "b", "rejected": "c"}\n')
        with self.assertRaises(DataError) as ctx:
            read_pairs(path)
        self.assertEqual((ctx.exception.line, ctx.exception.reason), (3, "encoding"))
        self.assertIn("not UTF-8", str(ctx.exception))
        self.assertEqual(ctx.exception.to_event()["reason"], "encoding")

    def test_holdout_split_is_deterministic_and_disjoint(self):
        path = write_jsonl(os.path.join(self.tmp, "p.jsonl"),
                           [{"prompt": str(i), "chosen": "b", "rejected": "c"} for i in range(20)])
        pairs = read_pairs(path)
        train, held = split_holdout(pairs, 0.25, seed=3)
        again = split_holdout(pairs, 0.25, seed=3)
        self.assertEqual((len(train), len(held)), (15, 5))
        self.assertEqual([p.prompt for p in held], [p.prompt for p in again[1]])
        self.assertFalse({p.prompt for p in train} & {p.prompt for p in held})


class RealHHRLHFTest(unittest.TestCase):
    """The real Anthropic HH-RLHF harmless-base test split (../shared/datasets, as in CI)."""

    def test_every_row_splits_into_prompt_and_answers(self):
        pairs = read_pairs(HH_RLHF)
        self.assertEqual(len(pairs), 2312)
        with gzip.open(HH_RLHF, "rt", encoding="utf-8") as handle:
            raw = [json.loads(line) for line in handle]
        for pair, row in zip(pairs, raw):
            self.assertTrue(pair.prompt.endswith(HH_ASSISTANT))
            self.assertEqual(pair.prompt + pair.chosen, row["chosen"])
            self.assertEqual(pair.prompt + pair.rejected, row["rejected"])

    def test_tokenises_with_the_byte_tokenizer(self):
        examples, stats = tokenize_pairs(read_pairs(HH_RLHF, max_rows=50), ByteTokenizer(), max_length=256,
                                         max_prompt_length=128, truncation="keep_start")
        self.assertEqual(stats["pairs"], 50)
        self.assertTrue(all(e.length <= 256 for e in examples))
        self.assertGreater(stats["truncated"], 0)

    def test_default_truncation_never_scores_a_cut_answer_on_hh(self):
        # the old truncation cut the prompt's start (BOS with it) and the answers' ends (EOS with them): a reward model
        # read its score mid-answer. Now every kept pair starts with BOS and ends both answers with EOS, and what
        # could not be kept whole is counted as dropped
        tok = ByteTokenizer()
        pairs = read_pairs(HH_RLHF, max_rows=400)
        examples, stats = tokenize_pairs(pairs, tok, max_length=512, max_prompt_length=256)
        self.assertEqual(stats["pairs"] + stats["dropped"], 400)
        self.assertGreater(stats["prompt_cut"], 0)
        self.assertGreater(stats["dropped"], 0)
        self.assertEqual(stats["answer_cut"], 0)
        for e in examples:
            self.assertEqual(e.prompt_ids[0], tok.bos_token_id)
            self.assertEqual((e.chosen_ids[-1], e.rejected_ids[-1]), (tok.eos_token_id, tok.eos_token_id))
            self.assertEqual((len(e.chosen_ids), len(e.rejected_ids)), (e.chosen_tokens, e.rejected_tokens))
            self.assertLessEqual(e.length, 512)
        # keep_end keeps every pair and still ends every answer with EOS
        kept, cut = tokenize_pairs(pairs, tok, max_length=512, max_prompt_length=256, truncation="keep_end")
        self.assertEqual((cut["pairs"], cut["dropped"], cut["answer_cut"]), (400, 0, stats["dropped"]))
        self.assertTrue(all(e.chosen_ids[-1] == tok.eos_token_id and e.prompt_ids[0] == tok.bos_token_id for e in kept))


class TokenizeTest(unittest.TestCase):
    tok = ByteTokenizer()

    def _pair(self, prompt, chosen, rejected):
        return parse_row({"prompt": prompt, "chosen": chosen, "rejected": rejected}, "f", 1)

    def test_bos_and_eos(self):
        (e,), _ = tokenize_pairs([self._pair("ab", "c", "de")], self.tok, max_length=64, max_prompt_length=32)
        self.assertEqual(e.prompt_ids, [257, 97, 98])
        self.assertEqual(e.chosen_ids, [99, 258])
        self.assertEqual(e.rejected_ids, [100, 101, 258])
        self.assertEqual((e.chosen_tokens, e.rejected_tokens), (2, 3))

    def test_truncation_policies(self):
        # prompt BOS+10 tokens, chosen 8+EOS, rejected 2+EOS; max_length 8, prompt kept to 4 (BOS + its last 3)
        pairs = [self._pair("0123456789", "abcdefgh", "xy"), self._pair("p", "ok", "no")]

        def run(policy):
            return tokenize_pairs(pairs, self.tok, max_length=8, max_prompt_length=4, truncation=policy)

        (start, short), stats = run("keep_start")
        self.assertEqual(start.prompt_ids, [257] + list(b"789"))
        self.assertEqual(start.chosen_ids, list(b"abcd"))
        self.assertEqual(start.rejected_ids, [120, 121, 258])
        self.assertEqual((start.chosen_tokens, stats["truncated"], stats["answer_cut"], stats["prompt_cut"]), (9, 1, 1, 1))
        self.assertEqual((short.index, short.source), (1, 1))

        (end, _), stats = run("keep_end")
        self.assertEqual(end.prompt_ids, [257] + list(b"789"))
        self.assertEqual(end.chosen_ids, list(b"fgh") + [258])
        self.assertEqual(end.rejected_ids, [120, 121, 258])

        (kept,), stats = run("keep_answers")
        self.assertEqual((kept.index, kept.source, stats["dropped"], stats["pairs"], stats["truncated"]), (0, 1, 1, 1, 0))
        (kept,), stats = run("drop")
        self.assertEqual((kept.source, stats["dropped"]), (1, 1))
        # keep_answers cuts a prompt that is too long when the answers then fit; drop does not
        fits = [self._pair("0123456789", "ab", "c")]
        (cut,), stats = tokenize_pairs(fits, self.tok, max_length=8, max_prompt_length=4)
        self.assertEqual((cut.prompt_ids, stats["prompt_cut"], stats["dropped"]), ([257] + list(b"789"), 1, 0))
        self.assertEqual(tokenize_pairs(fits, self.tok, max_length=8, max_prompt_length=4, truncation="drop")[1]["dropped"], 1)

    def test_empty_and_identical_answers_are_counted(self):
        pairs = [self._pair("q", "", "no"), self._pair("q", "same", "same"), self._pair("q", " ", " "), self._pair("q", "a", "b")]
        _, stats = tokenize_pairs(pairs, self.tok, max_length=64, max_prompt_length=32)
        self.assertEqual((stats["empty_answers"], stats["identical_answers"]), (2, 2))

    def test_conversation_uses_the_plain_chat_format(self):
        pair = parse_row({"prompt": [{"role": "user", "content": "hi"}],
                          "chosen": [{"role": "assistant", "content": "yo"}],
                          "rejected": [{"role": "assistant", "content": "no"}]}, "f", 1)
        (e,), _ = tokenize_pairs([pair], self.tok, max_length=64, max_prompt_length=32)
        self.assertEqual(self.tok.decode(e.prompt_ids), "<|user|>\nhi\n<|assistant|>\n")
        self.assertEqual(self.tok.decode(e.chosen_ids), "yo\n")

    def test_collate_marks_only_completion_tokens(self):
        examples, _ = tokenize_pairs([self._pair("ab", "c", "de")], self.tok, max_length=64, max_prompt_length=32)
        block = collate_pairs(examples, pad_token_id=256, concatenated=True)["concatenated"]
        self.assertEqual(block["input_ids"].tolist(), [[257, 97, 98, 99, 258, 256], [257, 97, 98, 100, 101, 258]])
        self.assertEqual(block["attention_mask"].tolist(), [[1, 1, 1, 1, 1, 0], [1] * 6])
        self.assertEqual(block["labels"].tolist(), [[-100, -100, -100, 99, 258, -100], [-100, -100, -100, 100, 101, 258]])



class CutOffCompletionTest(TempDirTestCase):
    """A completion its row marks cut off (chosen_ended / rejected_ended false: a sample that hit max_new_tokens) gets
    no EOS, under every truncation policy, and DPO's log-probs and a reward model read exactly its own tokens."""

    tok = ByteTokenizer()

    def _pair(self, prompt, chosen, rejected, **ended):
        return parse_row({"prompt": prompt, "chosen": chosen, "rejected": rejected, **ended}, "f", 1)

    def test_a_cut_off_chosen_gets_no_eos_and_the_rejected_keeps_its_own(self):
        path = write_jsonl(os.path.join(self.tmp, "p.jsonl"), [
            {"prompt": "ab", "chosen": "c", "rejected": "de", "chosen_ended": False},
            {"prompt": "ab", "chosen": "c", "rejected": "de", "rejected_ended": False, "chosen_ended": True},
            {"prompt": "ab", "chosen": "c", "rejected": "de"},
        ])
        pairs = read_pairs(path)
        self.assertEqual([(p.chosen_ended, p.rejected_ended) for p in pairs], [(False, True), (True, False), (True, True)])
        (cut, cut_rejected, plain), stats = tokenize_pairs(pairs, self.tok, max_length=64, max_prompt_length=32)
        self.assertEqual((cut.chosen_ids, cut.rejected_ids), ([99], [100, 101, 258]))
        self.assertEqual((cut.chosen_tokens, cut.rejected_tokens), (1, 3))
        self.assertEqual((cut_rejected.chosen_ids, cut_rejected.rejected_ids), ([99, 258], [100, 101]))
        self.assertEqual((plain.chosen_ids, plain.rejected_ids), ([99, 258], [100, 101, 258]))
        self.assertEqual(stats["cut_off_answers"], 2)
        block = collate_pairs([cut], pad_token_id=256, concatenated=True)["concatenated"]
        self.assertEqual(block["input_ids"].tolist(), [[257, 97, 98, 99, 256, 256], [257, 97, 98, 100, 101, 258]])
        self.assertEqual(block["labels"].tolist(), [[-100, -100, -100, 99, -100, -100], [-100, -100, -100, 100, 101, 258]])

    def test_bad_types_name_file_line_and_field(self):
        for key in ("chosen_ended", "rejected_ended"):
            for value in ("false", 0, 1, None, [False], {"v": False}):
                path = write_jsonl(os.path.join(self.tmp, "bad.jsonl"), [
                    {"prompt": "a", "chosen": "b", "rejected": "c"},
                    {"prompt": "a", "chosen": "b", "rejected": "c", key: value}])
                with self.assertRaises(DataError, msg=(key, value)) as ctx:
                    read_pairs(path)
                self.assertEqual((ctx.exception.file, ctx.exception.line, ctx.exception.reason), (path, 2, "row"))
                self.assertIn(f"'{key}' must be true or false", str(ctx.exception))

    def test_every_truncation_policy_keeps_a_cut_off_answer_without_eos(self):
        # prompt BOS+10 tokens; chosen 8 tokens, cut off (no EOS); rejected 2+EOS; max_length 8, prompt kept to BOS + 3
        long = self._pair("0123456789", "abcdefgh", "xy", chosen_ended=False)
        # fits max_length 8 only because the cut-off answer has no EOS: BOS + "p" + 6 tokens
        fits = self._pair("p", "abcdef", "no", chosen_ended=False)

        def run(policy):
            return tokenize_pairs([long, fits], self.tok, max_length=8, max_prompt_length=4, truncation=policy)

        (start, fit), stats = run("keep_start")
        self.assertEqual((start.prompt_ids, start.chosen_ids, start.rejected_ids),
                         ([257] + list(b"789"), list(b"abcd"), [120, 121, 258]))
        self.assertEqual((start.chosen_tokens, stats["answer_cut"]), (8, 1))
        self.assertEqual((fit.chosen_ids, fit.rejected_ids, fit.length), (list(b"abcdef"), list(b"no") + [258], 8))

        (end, fit), stats = run("keep_end")
        self.assertEqual((end.prompt_ids, end.chosen_ids, end.rejected_ids),
                         ([257] + list(b"789"), list(b"efgh"), [120, 121, 258]))
        self.assertEqual((fit.chosen_ids, stats["answer_cut"]), (list(b"abcdef"), 1))

        for policy in ("keep_answers", "drop"):
            (kept,), stats = run(policy)
            self.assertEqual((kept.source, kept.chosen_ids, kept.length, stats["dropped"], stats["truncated"]),
                             (1, list(b"abcdef"), 8, 1, 0), policy)
        # with EOS the same answer no longer fits: the pair is dropped (keep_answers) as before
        ended = self._pair("p", "abcdef", "no")
        self.assertEqual(tokenize_pairs([ended], self.tok, max_length=8, max_prompt_length=4)[1]["dropped"], 1)

    def test_a_cut_off_chat_answer_has_no_end_of_turn_either(self):
        pair = parse_row({"prompt": [{"role": "user", "content": "hi"}],
                          "chosen": [{"role": "assistant", "content": "yo"}],
                          "rejected": [{"role": "assistant", "content": "no"}], "chosen_ended": False}, "f", 1)
        (e,), _ = tokenize_pairs([pair], self.tok, max_length=64, max_prompt_length=32)
        self.assertEqual(self.tok.decode(e.prompt_ids), "<|user|>\nhi\n<|assistant|>\n")
        self.assertEqual(e.chosen_ids, list(b"yo"))  # what the sampler produced after the generation prompt
        self.assertEqual(e.rejected_ids, list(b"no\n") + [258])

    def test_same_text_cut_off_on_one_side_only_is_not_identical(self):
        pairs = [self._pair("q", "same", "same", rejected_ended=False),
                 self._pair("q", "same", "same", chosen_ended=False, rejected_ended=False)]
        examples, stats = tokenize_pairs(pairs, self.tok, max_length=64, max_prompt_length=32)
        self.assertEqual((stats["identical_answers"], stats["cut_off_answers"]), (1, 2))
        self.assertEqual([e.chosen_ids == e.rejected_ids for e in examples], [False, True])

    def test_dpo_log_probs_of_a_cut_off_answer_sum_exactly_its_tokens(self):
        import torch

        from trainers.models import PreferenceModel
        from trainers.tiny_model import TinyConfig, TinyDecoder

        torch.manual_seed(0)
        core = TinyDecoder(TinyConfig(dim=16, n_layers=1, n_heads=2, max_seq_len=64), head="lm").double()
        pair = self._pair("Q: ", "abc", "de", chosen_ended=False)
        (e,), _ = tokenize_pairs([pair], self.tok, max_length=64, max_prompt_length=32)
        block = collate_pairs([e], pad_token_id=256, concatenated=True)["concatenated"]
        for chunked in (True, False):
            model = PreferenceModel(core, head="lm", family="tiny", chunked=chunked, chunk_size=2)
            logps, counts = model(**block)
            self.assertEqual(counts.tolist(), [3, 3])  # "abc"; "de" + EOS
            for row, completion in ((0, list(b"abc")), (1, list(b"de") + [258])):
                ids = e.prompt_ids + completion
                with torch.no_grad():
                    logprobs = torch.log_softmax(core(torch.tensor([ids]))[0], dim=-1)
                start = len(e.prompt_ids)
                expected = sum(float(logprobs[t - 1, ids[t]]) for t in range(start, len(ids)))
                self.assertAlmostEqual(float(logps[row]), expected, places=9)
            with_eos = float(logps[0]) + float(torch.log_softmax(
                core(torch.tensor([e.prompt_ids + list(b"abc")]))[0, -1], dim=-1)[258])
            self.assertNotAlmostEqual(float(logps[0]), with_eos, places=3)

    def test_a_reward_model_scores_a_cut_off_answer_at_its_last_token(self):
        import torch

        from trainers.models import PreferenceModel
        from trainers.tiny_model import TinyConfig, TinyDecoder

        torch.manual_seed(0)
        core = TinyDecoder(TinyConfig(dim=16, n_layers=1, n_heads=2, max_seq_len=64), head="score").double()
        torch.nn.init.normal_(core.score_head.weight)
        pair = self._pair("Q: ", "abc", "defgh", chosen_ended=False)
        (e,), _ = tokenize_pairs([pair], self.tok, max_length=64, max_prompt_length=32)
        rewards = PreferenceModel(core, head="score", family="tiny")(
            **{k: v for k, v in collate_pairs([e], 256, concatenated=True)["concatenated"].items() if k != "labels"})
        with torch.no_grad():
            hidden = core.hidden_states(torch.tensor([e.prompt_ids + list(b"abc")]))
            at_c = float(core.score_head(hidden[0, -1]))
            eos = core.hidden_states(torch.tensor([e.prompt_ids + list(b"abc") + [258]]))
            at_eos = float(core.score_head(eos[0, -1]))
        self.assertAlmostEqual(float(rewards[0]), at_c, places=6)
        self.assertGreater(abs(at_c - at_eos), 1e-3)

class BatchScheduleTest(unittest.TestCase):
    lengths = [(i * 37) % 101 + 1 for i in range(100)]

    def test_deterministic_and_complete_per_epoch(self):
        s = BatchSchedule(self.lengths, 8, seed=1, bucketing=True, bucket_multiplier=4)
        e0, e1 = s.epoch_batches(0), s.epoch_batches(1)
        self.assertEqual(e0, BatchSchedule(self.lengths, 8, seed=1, bucketing=True, bucket_multiplier=4).epoch_batches(0))
        self.assertNotEqual(e0, e1)
        self.assertEqual(sorted(i for b in e0 for i in b), list(range(100)))

    def test_bucketing_groups_similar_lengths(self):
        def mean_spread(batches):
            return sum(max(self.lengths[i] for i in b) - min(self.lengths[i] for i in b) for b in batches) / len(batches)

        bucketed = BatchSchedule(self.lengths, 8, seed=1, bucketing=True, bucket_multiplier=16).epoch_batches(0)
        plain = BatchSchedule(self.lengths, 8, seed=1, bucketing=False).epoch_batches(0)
        self.assertLess(mean_spread(bucketed), mean_spread(plain) / 4)

    def test_ranks_get_disjoint_equal_shares(self):
        shares = [BatchSchedule(self.lengths, 8, seed=1, bucketing=True, world_size=3, rank=r).epoch_batches(0) for r in range(3)]
        self.assertEqual({len(s) for s in shares}, {4})
        seen = [i for s in shares for b in s for i in b]
        self.assertEqual(len(seen), len(set(seen)))


if __name__ == "__main__":
    unittest.main()
