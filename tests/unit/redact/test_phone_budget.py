"""The phone recognizer's parse budget (``recognizers/phone.py``): within it, libphonenumber
decides; past it, the rest of the text fails closed (digit runs of 7+ become PHONE, score 0.5)."""

from __future__ import annotations

import phonenumbers

from pipeline.redact.recognizers import phone
from pipeline.redact.recognizers.phone import FALLBACK_SCORE, PhoneRecognizer


def test_the_matcher_still_keeps_its_tries_where_the_budget_reads_them():
    matcher = phonenumbers.PhoneNumberMatcher("call 1/2/3", "US", max_tries=5)
    list(matcher)
    assert isinstance(matcher._max_tries, int) and matcher._max_tries < 5  # what phone._refused reads


def test_an_ordinary_document_is_judged_by_libphonenumber_alone():
    text = "Call +1 415 555 0132 or (415) 555-0198 before 2023-11-05; order 1234567 shipped."
    spans = PhoneRecognizer().find(text)
    assert [text[s.start:s.end] for s in spans] == ["+1 415 555 0132", "(415) 555-0198"]
    assert {s.score for s in spans} == {0.85}


def test_past_the_budget_the_rest_fails_closed_and_no_number_is_missed(monkeypatch):
    monkeypatch.setattr(phone, "BUDGET_BASE", 10)
    junk = "1/" * 3000
    text = f"{junk} call +1 415 555 0132 now, ref 12 34 56 78"
    spans = PhoneRecognizer().find(text)
    values = {text[s.start:s.end]: s.score for s in spans}
    assert any("415 555 0132" in v for v in values), values  # the real number is still redacted
    assert any(score == FALLBACK_SCORE for score in values.values())
    assert all(sum(c.isdigit() for c in v) >= 7 for v, score in values.items() if score == FALLBACK_SCORE)
