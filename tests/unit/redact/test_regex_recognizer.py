"""``RegexRecognizer``: one match-validate-span loop; recognizers are declarations over it."""

from __future__ import annotations

import re

from pipeline.redact.recognizers import PhoneRecognizer, RegexRecognizer, build_recognizers


class TicketRecognizer(RegexRecognizer):
    """A declaration: ``TCK-`` + 6 digits whose digit sum is even; the span leaves out the prefix."""

    name = "ticket"
    label = "TICKET"
    score = 0.7
    requires = "T"
    patterns = (re.compile(r"TCK-(\d{6})"), re.compile(r"TCK-\d{3}"))

    def validate(self, match: re.Match[str]) -> bool:
        return sum(map(int, match.group()[4:])) % 2 == 0

    def spans(self, match: re.Match[str]):
        return ((match.start() + 4, match.end()),)


def test_the_base_runs_match_validate_and_span_hooks():
    text = "TCK-123456 TCK-123457 TCK-112"
    spans = TicketRecognizer().find(text)
    assert all((s.label, s.source, s.score) == ("TICKET", "pattern:ticket", 0.7) for s in spans)
    # first pattern: 123456 fails ``validate`` (odd digit sum), 123457 passes; second pattern on its own
    assert [(text[s.start : s.end], s.start) for s in spans] == [("123457", 15), ("123", 4), ("123", 15), ("112", 26)]
    assert TicketRecognizer().find("no tickets here") == []  # the ``requires`` pre-check


def test_one_pattern_never_reports_overlapping_spans():
    class Digits(RegexRecognizer):
        name, label, score = "digits", "DIGITS", 0.5
        patterns = (re.compile(r"(?=(\d{3}))"),)  # overlapping candidates at every position

        def spans(self, match):
            return ((match.start(), match.start() + 3),)

    text = "1234567"
    assert [text[s.start : s.end] for s in Digits().find(text)] == ["123", "456"]


def test_builtin_recognizers_are_declarations():
    recognizers = {r.name: r for r in build_recognizers()}
    for name in ("email", "card", "iban", "ssn", "ip", "url"):
        assert isinstance(recognizers[name], RegexRecognizer), name
        assert type(recognizers[name]).find is RegexRecognizer.find, f"{name} re-implements the loop"
    assert isinstance(recognizers["phone"], PhoneRecognizer)  # libphonenumber's matcher, not a regex
