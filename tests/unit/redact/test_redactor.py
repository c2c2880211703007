"""Redactor: a span source's spans + pattern recognizers + propagation -> one anonymized result per text.

The span source here is a fake that "finds" given words (no model): what is tested is how the
redactor combines sources, not what the model finds (that is the golden tests' job).
"""

from __future__ import annotations

import logging
import re

import pytest

from pipeline.redact import OperatorDefaults, Redactor, RedactSettings, build_recognizers
from pipeline.redact.errors import PolicyError, RedactError
from pipeline.redact.propagation import Propagation
from pipeline.spans import Entity


class WordSource:
    """Labels every occurrence of the given words (first one only with ``first_only``)."""

    def __init__(self, words: dict[str, str], first_only: bool = False) -> None:
        self.words, self.first_only, self.calls = words, first_only, 0

    def entities(self, texts):
        self.calls += 1
        out = []
        for text in texts:
            spans = []
            for word, label in self.words.items():
                for m in re.finditer(re.escape(word), text):
                    spans.append(Entity(label, m.start(), m.end(), 0.9))
                    if self.first_only:
                        break
            out.append(spans)
        return out


def test_model_and_pattern_spans_are_merged_and_sources_reported():
    text = "Maria Garcia: maria@example.com, +1 415 555 0132"
    source = WordSource({"Maria": "GIVEN_NAME", "Garcia": "SURNAME", "555 0132": "PHONE"})
    (result,) = Redactor(source, build_recognizers()).redact([text])
    assert result.text == "<NAME>: <EMAIL>, <PHONE>"
    assert [(e.label, e.source) for e in result.entities] == [
        ("NAME", "model"), ("EMAIL", "pattern:email"), ("PHONE", "model+pattern:phone")]
    assert source.calls == 1  # one batched call for all texts


def test_propagation_redacts_other_occurrences_of_a_detected_value():
    text = "Garcia called. Later Garcia wrote; Garcias and McGarcia are other words."
    source = WordSource({"Garcia": "SURNAME"}, first_only=True)
    (result,) = Redactor(source).redact([text])
    assert result.text == "<SURNAME> called. Later <SURNAME> wrote; Garcias and McGarcia are other words."
    assert [e.source for e in result.entities] == ["model", "propagated"]
    (off,) = Redactor(source, redact_repeats=False).redact([text])
    assert off.text.count("Garcia") == 3


def test_short_values_are_not_propagated():
    assert Propagation().find("Li met Li", [Entity("SURNAME", 0, 2, 0.9)]) == []


def test_pattern_only_redactor_needs_no_span_source():
    (result,) = Redactor(None, build_recognizers()).redact(["card 4111 1111 1111 1111"])
    assert result.text == "card <CREDIT_CARD>"


def test_redact_spans_uses_given_model_spans_without_calling_the_source():
    source = WordSource({})
    redactor = Redactor(source, build_recognizers(["email"]))
    text = "Maria at maria@example.com"
    result = redactor.redact_spans(text, [Entity("GIVEN_NAME", 0, 5, 0.9)])
    assert result.text == "<GIVEN_NAME> at <EMAIL>"
    assert source.calls == 0


def test_request_policy_overrides_and_keeps_the_settings_key():
    redactor = Redactor(None, build_recognizers(["email"]), operator_defaults=OperatorDefaults(hash_key=b"k"))
    policy = redactor.policy_with({"EMAIL": "hash"})
    (a,) = redactor.redact(["a@example.com"], policy)
    (b,) = redactor.redact(["x A@Example.com"], policy)
    assert a.text.startswith("<EMAIL_") and b.text == "x " + a.text  # same pseudonym in another document
    assert redactor.policy_with(None) is redactor.policy
    with pytest.raises(PolicyError):
        Redactor(None).policy_with({"EMAIL": "hash"})  # no key configured


def test_a_span_source_returning_the_wrong_number_of_results_is_an_error():
    class Broken:
        def entities(self, texts):
            return []

    with pytest.raises(RedactError, match="returned 0 results for 1 texts"):
        Redactor(Broken()).redact(["x"])
    with pytest.raises(RedactError, match="returned 0 results for 1 texts"):
        Redactor(None).redact(["x"], model=[])  # spans passed in (the /redact route's way): the same check


def test_model_spans_passed_in_redact_as_the_span_source_would():
    class Names:
        def entities(self, texts):
            return [[Entity("GIVEN_NAME", 0, 5, 0.9)] if t.startswith("Maria") else [] for t in texts]

    texts = ["Maria wrote to maria@example.com", "nothing here", "Maria again"]
    asked = [r.to_dict() for r in Redactor(Names(), build_recognizers()).redact(texts)]
    given = [r.to_dict() for r in Redactor(None, build_recognizers()).redact(texts, model=Names().entities(texts))]
    assert given == asked and "Maria" not in asked[0]["redacted_text"]


def test_from_settings(monkeypatch):
    monkeypatch.setenv("NER_POLICY", '{"PHONE": {"type": "mask", "keep_last": 4}}')
    monkeypatch.setenv("NER_RECOGNIZERS", "phone,email")
    monkeypatch.setenv("NER_HASH_KEY", "s3cret")
    settings = RedactSettings.load(default_operator="hash", model_spans=False)
    assert "s3cret" not in repr(settings)
    source = WordSource({"Maria": "GIVEN_NAME"})
    redactor = Redactor.from_settings(settings, source)
    assert redactor.span_source is None  # model_spans off
    assert [r.name for r in redactor.recognizers] == ["phone", "email"]
    (result,) = redactor.redact(["Maria: +1 415 555 0132, 4111111111111111"])
    assert result.text == "Maria: ***********0132, 4111111111111111"
    (hashed,) = redactor.redact(["m@example.com"])
    assert re.fullmatch(r"<EMAIL_[0-9a-f]{12}>", hashed.text)


def test_settings_accept_lists_and_reject_bad_values(monkeypatch):
    assert RedactSettings.load(recognizers="").recognizers == []
    assert RedactSettings.load(phone_regions="US, DE").phone_regions == ["US", "DE"]
    monkeypatch.setenv("NER_POLICY", "{not json")
    with pytest.raises(Exception, match="JSON"):
        RedactSettings.load()


def test_nothing_is_logged_about_documents(caplog, capsys):
    text = "Maria Garcia maria@example.com"
    with caplog.at_level(logging.DEBUG):
        Redactor(WordSource({"Maria Garcia": "NAME"}), build_recognizers()).redact([text])
    captured = capsys.readouterr()
    for value in ("Maria", "maria@example.com", "<NAME>"):
        assert value not in caplog.text and value not in captured.out and value not in captured.err
