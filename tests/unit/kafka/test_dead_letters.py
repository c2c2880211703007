"""Dead letters carry the original record unchanged plus error headers (no document text)."""

from __future__ import annotations

from pipeline.kafka.dead_letters import MAX_MESSAGE, dead_letter, read_error_headers
from pipeline.kafka.documents import Source
from schemas.errors import SchemaMismatchError


def test_original_key_value_headers_kept_and_error_headers_added():
    letter = dead_letter(b"k", b"\xff raw", [("trace", b"1"), ("ner.error.class", b"stale")],
                         SchemaMismatchError("bad shape"), Source("in", 2, 41), 1234)
    assert (letter.key, letter.value) == (b"k", b"\xff raw")
    assert letter.headers[0] == ("trace", b"1")
    errors = read_error_headers(letter.headers)
    assert errors["ner.error.class"] == "SchemaMismatchError"  # a replayed letter's old class is replaced
    assert errors["ner.error.message"] == "bad shape"
    assert (errors["ner.source.topic"], errors["ner.source.partition"], errors["ner.source.offset"]) == (
        "in", "2", "41")
    assert errors["ner.source.timestamp"] == "1234"
    assert errors["ner.error.timestamp"].endswith("+00:00")


def test_long_messages_are_cut():
    letter = dead_letter(None, None, None, ValueError("x" * 5000), Source("in", 0, 0))
    assert len(read_error_headers(letter.headers)["ner.error.message"]) == MAX_MESSAGE
