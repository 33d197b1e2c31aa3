"""Tokenizers behind one small interface: Hugging Face when available, else bytes.

``encode`` never adds special tokens; the data pipeline adds BOS to prompts and EOS to
completions itself, as TRL does.
"""

from __future__ import annotations

import codecs
import re
from typing import List, Optional, Sequence

from .compat import transformers_module
from .errors import ConfigError

Message = dict


def render_messages_plain(messages: Sequence[Message], *, add_generation_prompt: bool) -> str:
    """The fallback chat format for tokenizers without a chat template."""
    text = "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages)
    if add_generation_prompt:
        text += "<|assistant|>\n"
    return text


# The byte tokenizer's text is lossless: a byte that is not part of valid UTF-8 (a sampled byte sequence often is not)
# decodes to the private-use code point U+F700 + byte (U+F780..U+F7FF) instead of U+FFFD, and encodes back to that
# byte. So a sample the tiny policy drew, written as text and read back for training, is the same token ids (with
# U+FFFD, each such byte came back as three bytes EF BF BD: DPO trained on sequences the policy never sampled). The
# price: those 128 code points in genuine text also encode to one raw byte each.
_RAW_BYTE_BASE = 0xF700
_RAW_BYTE_CHARS = re.compile("[\uf780-\uf7ff]")


def _raw_bytes_as_private_use(error: UnicodeDecodeError):
    bad = error.object[error.start:error.end]
    return "".join(chr(_RAW_BYTE_BASE + b) for b in bad), error.end


codecs.register_error("tribunal-raw-bytes", _raw_bytes_as_private_use)


def encode_bytes(text: str) -> List[int]:
    """UTF-8 bytes of ``text``, with U+F780..U+F7FF standing for the raw bytes 0x80..0xFF (see ``decode_bytes``)."""
    if not _RAW_BYTE_CHARS.search(text):
        return list(text.encode("utf-8"))
    ids: List[int] = []
    for part in re.split("([\uf780-\uf7ff]+)", text):
        if part and _RAW_BYTE_CHARS.match(part):
            ids.extend(ord(ch) - _RAW_BYTE_BASE for ch in part)
        else:
            ids.extend(part.encode("utf-8"))
    return ids


def decode_bytes(data: bytes) -> str:
    """Text of UTF-8 bytes, each byte that is not valid UTF-8 as U+F700 + byte: ``encode_bytes`` gives the bytes back."""
    return data.decode("utf-8", errors="tribunal-raw-bytes")


class ByteTokenizer:
    """UTF-8 bytes as ids 0..255 plus pad=256, bos=257, eos=258; lossless both ways (``decode_bytes``)."""

    kind = "byte"

    def __init__(self) -> None:
        self.pad_token_id = 256
        self.bos_token_id: Optional[int] = 257
        self.eos_token_id: Optional[int] = 258
        self.vocab_size = 259

    def encode(self, text: str) -> List[int]:
        return encode_bytes(text)

    def decode(self, ids: Sequence[int]) -> str:
        return decode_bytes(bytes(i for i in ids if i < 256))

    def render_chat(self, messages: Sequence[Message], *, add_generation_prompt: bool) -> str:
        return render_messages_plain(messages, add_generation_prompt=add_generation_prompt)

    def save(self, directory: str) -> None:  # nothing to save: bytes are bytes
        pass


class HFTokenizer:
    """A ``transformers`` tokenizer loaded from a local directory."""

    kind = "hf"

    # added when a reward model's tokenizer has no pad token of its own (see ``distinct_pad``)
    PAD_TOKEN = "<|tribunal_pad|>"

    def __init__(self, path: str, *, trust_remote_code: bool = False, distinct_pad: bool = False):
        transformers = transformers_module()
        if transformers is None:
            raise ConfigError("tokenizer.kind", "'hf' needs the transformers package, which is not installed")
        try:
            self._tok = transformers.AutoTokenizer.from_pretrained(
                path, local_files_only=True, trust_remote_code=trust_remote_code)
        except Exception as error:
            raise ConfigError("tokenizer.path", f"cannot load a tokenizer from {path}: {error}")
        tok = self._tok
        self.eos_token_id = tok.eos_token_id
        self.bos_token_id = tok.bos_token_id
        self.added_pad = False
        if distinct_pad and (tok.pad_token_id is None or tok.pad_token_id == tok.eos_token_id):
            # a reward model is scored at its EOS; Hugging Face sequence classification scores the last token that is
            # not the pad token, so a pad equal to EOS would make an exported model score the token before EOS
            tok.add_special_tokens({"pad_token": self.PAD_TOKEN})
            self.added_pad = True
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        self.pad_token_id = pad if pad is not None else 0
        self.vocab_size = len(tok)

    def encode(self, text: str) -> List[int]:
        return list(self._tok(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return self._tok.decode(list(ids))

    def render_chat(self, messages: Sequence[Message], *, add_generation_prompt: bool) -> str:
        if getattr(self._tok, "chat_template", None):
            return self._tok.apply_chat_template(list(messages), tokenize=False,
                                                 add_generation_prompt=add_generation_prompt)
        return render_messages_plain(messages, add_generation_prompt=add_generation_prompt)

    def save(self, directory: str) -> None:
        self._tok.save_pretrained(directory)


def build_tokenizer(tokenizer_config, model_config, *, distinct_pad: bool = False):
    """Pick the tokenizer: explicit kind, or auto (hf when a path is known and transformers imports). With
    ``distinct_pad`` (reward models), an hf tokenizer whose pad is missing or equal to EOS gets a pad token of its own
    (``HFTokenizer.PAD_TOKEN``; the model's embeddings grow by one row)."""
    path = tokenizer_config.path or model_config.path
    kind = tokenizer_config.kind
    if kind == "auto":
        kind = "hf" if path and transformers_module() is not None else "byte"
    if kind == "byte":
        return ByteTokenizer()
    return HFTokenizer(path, trust_remote_code=model_config.trust_remote_code, distinct_pad=distinct_pad)
