"""Offsets must be exact character offsets into the original Python string."""

import pytest

from engines.bundle import load_bundle
from pipeline.tokenize import TextEncoder, sanitize

HARD = [
    "",
    "   ",
    "  leading and trailing  ",
    "José Müller lives in Zürich",
    "emoji 😀👍🏽 then Bob",
    "東京で田中さんに会った",
    "tabs\tand\nnewlines\r\nhere",
    "e\u0301 combining accent",
]


@pytest.fixture(scope="module")
def encoder():
    return TextEncoder(load_bundle().tokenizer_path, 512)


def test_special_tokens_learnt_from_post_processor(encoder):
    assert encoder.prefix.tolist() and encoder.suffix.tolist()
    assert encoder.capacity == 512 - len(encoder.prefix) - len(encoder.suffix)


@pytest.mark.parametrize("text", HARD)
def test_offsets_slice_the_original_text(encoder, text):
    (doc,) = encoder.encode([text])
    for (start, end), token in zip(doc.offsets.tolist(), doc.tokens, strict=True):
        piece = text[start:end]
        assert 0 <= start <= end <= len(text)
        if token != "[UNK]":
            assert piece.strip(), (token, piece)
            bare = token.removeprefix("##")
            import unicodedata
            norm = "".join(c for c in unicodedata.normalize("NFD", piece.lower()) if unicodedata.category(c) != "Mn")
            assert norm == bare or len(piece) == len(bare) or bare in norm


def test_lone_surrogates_are_replaced_one_for_one(encoder):
    text = "Bob \ud800 and \udfff Alice"
    assert len(sanitize(text)) == len(text)
    (doc,) = encoder.encode([text])
    assert [text[s:e] for s, e in doc.offsets.tolist()] == ["Bob", "and", "Alice"]


def test_truncation_right_and_left(encoder):
    text = " ".join(f"w{i}" for i in range(2000))
    (right,) = encoder.encode([text], truncate=True, direction="Right")
    (left,) = encoder.encode([text], truncate=True, direction="Left")
    assert right.n_tokens == left.n_tokens == encoder.capacity
    assert right.offsets[0, 0] == 0
    assert left.offsets[-1, 1] == len(text)
    assert len(right.windows) == len(left.windows) == 1


def test_long_text_is_windowed_not_truncated(encoder):
    text = " ".join(f"w{i}" for i in range(2000))
    (doc,) = encoder.encode([text], stride=32)
    assert len(doc.windows) > 1
    assert doc.offsets[-1, 1] == len(text)
    for w in range(len(doc.windows)):
        seq = encoder.sequence(doc, w)
        assert len(seq) <= 512
