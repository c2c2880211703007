"""Tokenization with exact character offsets, truncation and window planning.

Texts are encoded *without* special tokens, so the same content ids can be cut into windows
(or truncated left/right) and then wrapped in the model's own prefix/suffix (``[CLS]``/
``[SEP]`` for BERT, ``<s>``/``</s>`` for RoBERTa), learnt once from the tokenizer's post-processor.

Offsets come from the Rust tokenizer in code points, which is what Python string indexing
uses, so ``text[start:end]`` is exact for accents, emoji, CJK and whitespace. Lone surrogates
(which cannot cross into Rust) are replaced one-for-one by U+FFFD, keeping every offset valid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from tokenizers import Tokenizer

from pipeline.errors import InputError
from pipeline.windows import assign_owners, plan_windows

Direction = Literal["Right", "Left"]
_SURROGATES = re.compile("[\ud800-\udfff]")


def sanitize(text: str) -> str:
    """Replace lone surrogates by U+FFFD (same length, so offsets stay valid)."""
    return _SURROGATES.sub("\ufffd", text) if _SURROGATES.search(text) else text


@dataclass(slots=True)
class EncodedText:
    """One text's content tokens and the engine sequences (windows) that cover them."""

    text: str
    ids: np.ndarray  # int64 [n]
    offsets: np.ndarray  # int64 [n, 2], character offsets into ``text``
    tokens: list[str]
    windows: list[tuple[int, int]]
    #: Index into ``ids`` of the first token kept (Left truncation drops a prefix).
    kept: tuple[int, int] = (0, 0)
    owner: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    position: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    #: Special tokens wrapped around each window (``[CLS]`` + ``[SEP]``: 2 for BERT).
    special: int = 0
    #: When ``text`` is the plain view of the caller's text (``pipeline.see_through``): the view,
    #: to map offsets back to the original; None when ``text`` is the original.
    seen_through: object = None

    @property
    def n_tokens(self) -> int:
        return len(self.ids)

    @property
    def widths(self) -> list[int]:
        """Engine sequence length of each window, special tokens included (none for an empty text)."""
        if not len(self.ids):
            return []
        return [(end - start) + self.special for start, end in self.windows]


class TextEncoder:
    """Wraps a ``tokenizers.Tokenizer`` with the model's window and special tokens."""

    def __init__(self, tokenizer_path: Path, max_seq_len: int) -> None:
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        except Exception as exc:  # tokenizers raises plain Exception subclasses
            from engines.errors import BundleError

            raise BundleError(f"{tokenizer_path}: not a valid Hugging Face tokenizer.json ({exc})") from exc
        self._tokenizer.no_truncation()
        self._tokenizer.no_padding()
        probe = self._tokenizer.encode("a", add_special_tokens=True)
        special = probe.special_tokens_mask
        first = special.index(0) if 0 in special else len(special)
        last = len(special) - special[::-1].index(0) if 0 in special else len(special)
        self.prefix = np.array(probe.ids[:first], dtype=np.int64)
        self.suffix = np.array(probe.ids[last:], dtype=np.int64)
        self.max_seq_len = max_seq_len
        self.capacity = max_seq_len - len(self.prefix) - len(self.suffix)
        if self.capacity < 2:
            raise InputError(f"max_seq_len {max_seq_len} leaves no room for content tokens", field="max_seq_len")
        model = self._tokenizer.model
        self.subword_prefix: str | None = getattr(model, "continuing_subword_prefix", None) or None
        unk = getattr(model, "unk_token", None)
        self.unk_id = self._tokenizer.token_to_id(unk) if unk else None
        self.pad_id = self._pad_id()

    def _pad_id(self) -> int:
        for token in ("[PAD]", "<pad>", "<PAD>"):
            found = self._tokenizer.token_to_id(token)
            if found is not None:
                return found
        return 0

    def count_tokens(self, text: str) -> int:
        """Content tokens of ``text`` (special tokens excluded)."""
        return len(self._tokenizer.encode(sanitize(text), add_special_tokens=False).ids)

    def encode(
        self,
        texts: list[str],
        *,
        truncate: bool = False,
        direction: Direction = "Right",
        stride: int = 64,
    ) -> list[EncodedText]:
        """Encode texts; long ones are truncated (``truncate``) or split into windows."""
        clean = [sanitize(t) for t in texts]
        special = len(self.prefix) + len(self.suffix)
        encodings = self._tokenizer.encode_batch(clean, add_special_tokens=False)
        out = []
        for text, enc in zip(clean, encodings, strict=True):
            ids = np.asarray(enc.ids, dtype=np.int64)
            offsets = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
            tokens = enc.tokens
            n = len(ids)
            kept = (0, n)
            if truncate and n > self.capacity:
                kept = (0, self.capacity) if direction == "Right" else (n - self.capacity, n)
                ids, offsets, tokens = ids[kept[0] : kept[1]], offsets[kept[0] : kept[1]], tokens[kept[0] : kept[1]]
            windows = plan_windows(len(ids), self.capacity, stride)
            owner, position = assign_owners(len(ids), windows)
            out.append(EncodedText(text, ids, offsets, tokens, windows, kept, owner, position, special))
        return out

    def sequence(self, doc: EncodedText, window: int) -> np.ndarray:
        """Engine input ids for one window: prefix + content + suffix."""
        start, end = doc.windows[window]
        return np.concatenate([self.prefix, doc.ids[start:end], self.suffix])

    def id_to_token(self, token_id: int) -> str:
        return self._tokenizer.id_to_token(token_id) or ""
