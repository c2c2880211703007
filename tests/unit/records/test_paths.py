"""The field path grammar: dotted keys, [*] and [N]; a step that does not fit matches nothing."""

from __future__ import annotations

import pytest

from pipeline.records.paths import EVERY, FieldPath, PathError, parse_paths

TICKET = {"subject": "s", "comments": [{"text": "a"}, {"author": "x"}, {"text": "c"}],
          "customer": {"email": "e", "note": None}, "lines": ["l0", "l1"]}


@pytest.mark.parametrize(("text", "steps"), [
    ("text", ("text",)),
    ("customer.email", ("customer", "email")),
    ("comments[*].text", ("comments", EVERY, "text")),
    ("lines[1]", ("lines", 1)),
    ("a[*][0].b", ("a", EVERY, 0, "b")),
    ("@value", ("@value",)),
])
def test_grammar(text, steps):
    assert FieldPath.parse(text).steps == steps


@pytest.mark.parametrize("text", ["", "  ", ".a", "a.", "a..b", "a[", "a[x]", "a[-1]", "[0]", "a b", "a[*", "x" * 201])
def test_malformed_paths_are_config_errors(text):
    with pytest.raises(PathError):
        FieldPath.parse(text)


def test_duplicates_are_refused():
    with pytest.raises(PathError, match="twice"):
        parse_paths(["body", "body"])


@pytest.mark.parametrize(("path", "found"), [
    ("comments[*].text", {"comments[0].text": "a", "comments[2].text": "c"}),
    ("comments[2].text", {"comments[2].text": "c"}),
    ("comments[9].text", {}),
    ("customer.email", {"customer.email": "e"}),
    ("customer.note", {"customer.note": None}),
    ("subject.deeper", {}),  # a key on a string: no match, not an error
    ("lines[*]", {"lines[0]": "l0", "lines[1]": "l1"}),
    ("customer[*]", {}),  # [*] on an object: no match
    ("missing", {}),
])
def test_matches_give_concrete_paths_in_document_order(path, found):
    assert {m.path: m.value for m in FieldPath.parse(path).matches(TICKET)} == found


def test_a_match_writes_back_where_it_was_found():
    record = {"comments": [{"text": "a"}, {"text": "b"}]}
    for match in FieldPath.parse("comments[*].text").matches(record):
        match.set(match.value.upper())
    assert record == {"comments": [{"text": "A"}, {"text": "B"}]}
    (match,) = FieldPath.parse("comments[0].text").matches(record)
    match.delete()
    assert record == {"comments": [{}, {"text": "B"}]}

