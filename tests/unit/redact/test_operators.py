"""Operators: each rewrites one value; specs are validated so typos fail loudly."""

from __future__ import annotations

import pytest

from pipeline.redact.errors import PolicyError
from pipeline.redact.operators import Hash, Keep, Mask, OperatorDefaults, Remove, Replace, build_operator

KEY = OperatorDefaults(hash_key=b"test-key")


def test_replace_uses_the_label_placeholder_or_a_fixed_value():
    assert Replace().apply("john@example.com", "EMAIL") == "<EMAIL>"
    assert Replace(template="[{label} removed]").apply("x", "PHONE") == "[PHONE removed]"
    assert Replace(value="XXX").apply("john@example.com", "EMAIL") == "XXX"


def test_mask_keeps_length_and_at_most_half_of_the_value():
    assert Mask().apply("4111111111111111", "CREDIT_CARD") == "*" * 16
    assert Mask(char="#", keep_last=4).apply("4111111111111111", "CREDIT_CARD") == "#" * 12 + "1111"
    assert Mask(keep_last=4).apply("1234", "ZIP_CODE") == "**34"  # never the whole short value
    assert Mask(keep_last=9).apply("a", "X") == "*"
    assert Mask(keep_last=1).apply("😀李ü", "X") == "**ü"  # counts code points, not bytes


def test_hash_is_a_keyed_stable_pseudonym():
    op = build_operator("hash", KEY)
    first = op.apply("John.Smith@Example.com", "EMAIL")
    assert first.startswith("<EMAIL_") and first.endswith(">") and len(first) == len("<EMAIL_>") + 12
    # stable across calls/documents, case and whitespace insensitive, label not part of the digest
    assert op.apply("john.smith@example.com", "EMAIL") == first
    assert op.apply("John  Smith", "NAME")[-13:] == op.apply("john smith", "GIVEN_NAME")[-13:]
    # a different key or value gives a different pseudonym
    assert build_operator("hash", OperatorDefaults(hash_key=b"other")).apply("john.smith@example.com", "EMAIL") != first
    assert op.apply("jane.smith@example.com", "EMAIL") != first
    assert "john" not in first.lower()


def test_hash_needs_a_key_and_a_sane_digest_length():
    with pytest.raises(PolicyError, match="key"):
        build_operator("hash")
    with pytest.raises(PolicyError):
        Hash(key=b"k", digest_chars=4)
    assert len(build_operator({"type": "hash", "digest_chars": 20}, KEY).digest("x")) == 20


def test_remove_and_keep():
    assert Remove().apply("secret", "X") == ""
    assert Keep().apply("Paris", "CITY") == "Paris"
    assert Keep().redacts is False and Remove().redacts is True


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("replace", Replace()),
        ({"type": "replace", "value": "[X]"}, Replace(value="[X]")),
        ({"type": "mask", "keep_last": 4}, Mask(keep_last=4)),
        ("remove", Remove()),
        ("keep", Keep()),
    ],
)
def test_build_operator_from_specs(spec, expected):
    assert build_operator(spec) == expected


def test_mask_char_default_comes_from_settings():
    assert build_operator("mask", OperatorDefaults(mask_char="#")).apply("abcd", "X") == "####"
    assert build_operator({"type": "mask", "char": "x"}, OperatorDefaults(mask_char="#")).apply("ab", "X") == "xx"


@pytest.mark.parametrize(
    "spec",
    [
        "shred",
        {"char": "#"},
        {"type": "mask", "keep_first": 2},
        {"type": "mask", "keep_last": "4"},
        {"type": "mask", "char": "##"},
        {"type": "mask", "keep_last": -1},
        {"type": "replace", "value": 3},
        {"type": "hash", "key": "from-the-request"},
        42,
    ],
)
def test_invalid_specs_raise_policy_errors(spec):
    with pytest.raises(PolicyError):
        build_operator(spec, KEY)
