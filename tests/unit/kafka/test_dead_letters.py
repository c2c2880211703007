"""Dead letters carry the original record plus error headers: never record content in a
header, incoming ``ner.*`` headers dropped, and a record too large for the dead-letter topic
cut to a prefix with its size and hash."""

from __future__ import annotations

import hashlib
import json

import pytest

from pipeline.errors import TextTooLongError
from pipeline.kafka.dead_letters import DeadLetters, read_error_headers
from pipeline.kafka.documents import Source
from pipeline.kafka.errors import OutputRefusedError, RecordFailedError
from pipeline.kafka.records import DEAD_LETTER, Pending
from schemas.errors import MalformedRecordError, SchemaMismatchError
from tests.unit.kafka.fakes import FakeMsg

SECRET = "Maria Garcia 4111-1111-1111-1111"


def _pending(value: bytes | None, error: BaseException, headers=None, key=b"k") -> Pending:
    return Pending(FakeMsg("in", 2, 41, value, key=key, headers=headers, timestamp=1234), Source("in", 2, 41),
                   error=error)


def test_original_key_value_headers_kept_and_error_headers_added_and_planted_ner_headers_dropped():
    item = _pending(b"\xff raw", SchemaMismatchError("bad shape"),
                    [("trace", b"1"), ("ner.error.class", b"stale"), ("ner.source.offset", b"999")])
    letter = DeadLetters("dlq", 1_000_000).letter(item)
    assert (letter.kind, letter.topic, letter.key, letter.value) == (DEAD_LETTER, "dlq", b"k", b"\xff raw")
    assert letter.headers[0] == ("trace", b"1")
    assert [k for k, _ in letter.headers].count("ner.source.offset") == 1
    errors = read_error_headers(letter.headers)
    assert errors["ner.error.class"] == "SchemaMismatchError"
    assert errors["ner.source.offset"] == "41"  # ours, not the planted one
    assert (errors["ner.source.topic"], errors["ner.source.partition"]) == ("in", "2")
    assert errors["ner.source.timestamp"] == "1234"
    assert errors["ner.error.timestamp"].endswith("+00:00")
    assert "ner.original.truncated" not in errors


@pytest.mark.parametrize("error", [
    SchemaMismatchError(f"record does not match: {SECRET}"),
    MalformedRecordError(f"value is not JSON: {SECRET}"),
    TextTooLongError(f"text {SECRET}", field="text"),
    RecordFailedError(f"boom {SECRET}", cause="RuntimeError"),
    OutputRefusedError(f"refused {SECRET}", code="MSG_SIZE_TOO_LARGE"),
    ValueError(SECRET),
])
def test_error_messages_are_fixed_per_class_and_never_carry_record_content(error):
    letter = DeadLetters("dlq", 1_000_000).letter(_pending(b"{}", error))
    message = read_error_headers(letter.headers)["ner.error.message"]
    assert "Maria" not in message and "4111" not in message
    assert message  # says something


def test_details_that_cannot_carry_content_are_kept():
    refused = DeadLetters("dlq", 10**6).letter(_pending(b"{}", OutputRefusedError("x", code="MSG_SIZE_TOO_LARGE")))
    assert "broker error MSG_SIZE_TOO_LARGE" in read_error_headers(refused.headers)["ner.error.message"]
    failed = DeadLetters("dlq", 10**6).letter(_pending(b"{}", RecordFailedError("x", cause="RuntimeError")))
    assert "original error RuntimeError" in read_error_headers(failed.headers)["ner.error.message"]


def test_a_value_over_the_limit_becomes_a_prefix_with_size_and_sha256():
    value = json.dumps({"id": "big", "text": "a" * 1_010_000}).encode()  # the record
    assert len(value) == 1_010_025
    letter = DeadLetters("dlq", 1_000_000).letter(_pending(value, TextTooLongError("long"), [("trace", b"t")]))
    total = len(letter.key) + len(letter.value) + sum(len(k) + len(v) for k, v in letter.headers)
    assert total <= 1_000_000 - 1024  # leaves room for librdkafka's own overhead
    assert value.startswith(letter.value) and len(letter.value) > 900_000
    errors = read_error_headers(letter.headers)
    assert errors["ner.original.truncated"] == "true"
    assert errors["ner.original.size"] == "1010025"
    assert errors["ner.original.sha256"] == hashlib.sha256(value).hexdigest()
    assert ("trace", b"t") in letter.headers


def test_no_dead_letter_topic_means_log_and_skip():
    assert DeadLetters(None, 1_000_000).letter(_pending(b"x", MalformedRecordError("x"))) is None


def test_a_huge_key_or_huge_headers_are_cut_so_the_dead_letter_still_fits():
    item = _pending(None, MalformedRecordError("tombstone"), [("big", b"h" * 900_000)], key=b"k" * 2_000_000)
    letter = DeadLetters("dlq", 1_000_000).letter(item)
    total = len(letter.key) + sum(len(k) + len(v) for k, v in letter.headers)
    assert total < 1_000_000 - 1024 and letter.key == b"k" * 250_000
    errors = read_error_headers(letter.headers)
    assert errors["ner.original.key_truncated"] == "true" and errors["ner.original.key_size"] == "2000000"
    assert errors["ner.original.headers_dropped"] == "true"
