"""The byte tokenizer is lossless: what the tiny policy samples, written as text and read back, is the same ids."""

import random
import unittest

from trainers.tokenizer import ByteTokenizer, decode_bytes, encode_bytes


class ByteTokenizerRoundTripTest(unittest.TestCase):
    def test_random_byte_sequences_round_trip(self):
        tokenizer = ByteTokenizer()
        rng = random.Random(0)
        for _ in range(3000):
            ids = [rng.randrange(256) for _ in range(rng.randrange(0, 80))]
            text = tokenizer.decode(ids)
            self.assertEqual(tokenizer.encode(text), ids, text)

    def test_special_ids_are_dropped_and_valid_text_is_plain_utf8(self):
        tokenizer = ByteTokenizer()
        self.assertEqual(tokenizer.decode([104, 105, 258, 256]), "hi")
        text = "héllo ✓ 😀"
        self.assertEqual(tokenizer.encode(text), list(text.encode("utf-8")))
        self.assertEqual(tokenizer.decode(tokenizer.encode(text)), text)

    def test_invalid_bytes_become_private_use_characters(self):
        self.assertEqual(decode_bytes(bytes([0x61, 0x80, 0xFF, 0x62])), "a\uf780\uf7ffb")
        self.assertEqual(encode_bytes("a\uf780\uf7ffb"), [0x61, 0x80, 0xFF, 0x62])
        # a truncated multi-byte sequence keeps each of its bytes
        self.assertEqual(decode_bytes(bytes([0xE2, 0x9C])), "\uf7e2\uf79c")
        self.assertEqual(encode_bytes(decode_bytes(bytes([0xE2, 0x9C]))), [0xE2, 0x9C])

    def test_the_documented_price_those_code_points_in_real_text_are_raw_bytes(self):
        self.assertEqual(encode_bytes("\uf780"), [0x80])


if __name__ == "__main__":
    unittest.main()
