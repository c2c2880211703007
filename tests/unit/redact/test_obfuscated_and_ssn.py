"""E-mail recognizer: obfuscated addresses whole; SSN recognizer: bare/dotted numbers next to a context word."""

from __future__ import annotations

import pytest

from pipeline.redact.recognizers import EmailRecognizer, SsnRecognizer


@pytest.mark.parametrize(("text", "value"), [
    ("write john [at] example [dot] com today", "john [at] example [dot] com"),
    ("write jane.doe(at)example(dot)co(dot)uk.", "jane.doe(at)example(dot)co(dot)uk"),
    ("mail {at} lists.example.net", "mail {at} lists.example.net"),
    ("JOHN [AT] EXAMPLE [DOT] COM", "JOHN [AT] EXAMPLE [DOT] COM"),
])
def test_obfuscated_emails_whole(text, value):
    assert [text[e.start : e.end] for e in EmailRecognizer().find(text)] == [value]


@pytest.mark.parametrize("text", ["meet me at (at) noon", "a [dot] b [dot] c", "x (at) y"])
def test_not_emails(text):
    assert EmailRecognizer().find(text) == []


@pytest.mark.parametrize(("text", "found"), [
    ("SSN: 123456789", ["123456789"]),
    ("her social security number is 123.45.6789.", ["123.45.6789"]),
    ("ss# 123456789 and 123-45-6789", ["123456789", "123-45-6789"]),
    ("order 123456789", []),
    ("SSN 666456789", []),
    ("version 123.45.6789.1 of ssn tool", []),
])
def test_bare_ssn_needs_context(text, found):
    assert sorted(text[e.start : e.end] for e in SsnRecognizer().find(text)) == sorted(found)
