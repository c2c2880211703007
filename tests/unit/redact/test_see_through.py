"""``see_through``: the plain text detectors read, and offsets mapped back into the original;
the redactor runs recognizers and propagation on it (a fake span source stands in for the model)."""

from __future__ import annotations

import pytest

from pipeline.redact import Redactor, build_recognizers
from pipeline.see_through import see_through
from pipeline.spans import Entity


@pytest.mark.parametrize(("text", "plain"), [
    ("a\\nb", "a\nb"),
    ("a\\\\nb\\tc\\r", "a\nb\tc\r"),            # JSON escaped twice, tab, carriage return
    ("\\u004aohn \\ud83d\\ude00", "John \U0001F600"),  # a surrogate pair decodes as one character
    ("x &amp; y &#64; &#x40; &eacute;", "x & y @ @ é"),
    ("<b>John</b> <a href='x'>Smith</a>", " John   Smith "),
    ("Jo\u200bhn Sm\u00adith\ufeff", "John Smith"),
    ("john\uff20example\uff0ecom \uff14\uff11", "john@example.com 41"),
])
def test_plain_text(text, plain):
    view = see_through(text)
    assert view is not None and view.plain == plain


@pytest.mark.parametrize("text", ["plain text, nothing hidden", "a < b and c > d", "<john@example.com>",
                                  "\\ud800 lone surrogate escape", "&#0; &nosuchentity;", "C:\\\\"])
def test_nothing_to_see_through_is_none(text):
    assert see_through(text) is None


def test_offsets_map_back_into_the_original():
    text = "Hi!\\nJo\u200bhn &amp; <i>Sm\u00adith</i>"
    view = see_through(text)
    for word, original in (("John", "Jo\u200bhn"), ("Smith", "Sm\u00adith"), ("&", "&amp;"), ("\n", "\\n")):
        start = view.plain.index(word)
        s, e = view.to_original(start, start + len(word))
        assert text[s:e] == original
        assert view.to_plain(s, e) == (start, start + len(word))


class FirstOnly:
    """A model that finds a name only at its first occurrence."""

    def __init__(self, word: str) -> None:
        self.word = word

    def entities(self, texts):
        return [[Entity("GIVEN_NAME", t.index(self.word), t.index(self.word) + len(self.word), 0.9)] for t in texts]


def test_propagation_and_recognizers_see_through_escapes():
    text = 'Selam asked.\\nSelam: "Who?"\\n4111111111111111 and Jo\u200bhn; Sel\u200bam again'
    (result,) = Redactor(FirstOnly("Selam"), build_recognizers()).redact([text])
    assert result.text == (
        '<GIVEN_NAME> asked.\\n<GIVEN_NAME>: "Who?"\\n<CREDIT_CARD> and Jo\u200bhn; <GIVEN_NAME> again')
    assert all(text[e.start : e.end].replace("\u200b", "") in ("Selam", "4111111111111111") for e in result.entities)


def test_fullwidth_and_html_escaped_emails_are_redacted_whole():
    (a, b) = Redactor(None, build_recognizers()).redact(["mail john\uff20example.com", "mail john&#64;example.com!"])
    assert a.text == "mail <EMAIL>"
    assert b.text == "mail <EMAIL>!"
