"""The anonymizer's guarantee: no detected span's text survives; offsets index the original.

The property test builds documents from filler (ASCII lower case and punctuation) and PII
values drawn from an alphabet that neither the filler nor any operator's output can contain
(non-ASCII letters, CJK, emoji with modifiers and ZWJ). Every PII value is detected, possibly
in several overlapping or touching pieces with random labels; a detected span's text can then
only reappear if redaction leaked it.
"""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.redact.anonymizer import anonymize
from pipeline.redact.errors import RedactError
from pipeline.redact.operators import OperatorDefaults
from pipeline.redact.policy import Policy, default_policy
from pipeline.spans import Entity

PII_CHARS = "éüñßΩжλ李小龍例え😀🎉👍🏽‍🦰ﬁ"
FILLER_CHARS = "abcdefghij .,;:\n"
LABELS = ["GIVEN_NAME", "SURNAME", "EMAIL", "PHONE", "CITY", "ZIP_CODE", "IBAN", "CREDIT_CARD", "OTHER"]
OPERATORS = ["replace", "hash", "remove", {"type": "mask"}, {"type": "replace", "value": "[x]"},
             {"type": "mask", "char": "#"}]
DEFAULTS = OperatorDefaults(hash_key=b"property-key")


@st.composite
def documents(draw):
    """(text, spans, pii values) with every PII value covered by one or more spans."""
    parts: list[str] = []
    spans: list[Entity] = []
    values: list[str] = []
    cursor = 0
    for _ in range(draw(st.integers(0, 6))):
        filler = draw(st.text(FILLER_CHARS, max_size=8))
        value = draw(st.text(PII_CHARS, min_size=1, max_size=10))
        parts += [filler, value]
        start = cursor + len(filler)
        end = start + len(value)
        cursor = end
        values.append(value)
        cuts = sorted(set(draw(st.lists(st.integers(start + 1, end - 1), max_size=2)) if end - start > 1 else []))
        bounds = [start, *cuts, end]
        for a, b in itertools.pairwise(bounds):
            spans.append(Entity(draw(st.sampled_from(LABELS)), a, b, draw(st.floats(0.01, 1.0)),
                                draw(st.sampled_from(["model", "pattern:email"]))))
        if draw(st.booleans()):  # an extra detector's span overlapping this value and maybe its neighbours
            a = draw(st.integers(max(0, start - 3), end - 1))
            b = draw(st.integers(a + 1, min(end + 3, cursor + 3)))
            spans.append(Entity(draw(st.sampled_from(LABELS)), a, b, draw(st.floats(0.01, 1.0)), "pattern:x"))
    tail = draw(st.text(FILLER_CHARS, max_size=8))
    text = "".join(parts) + tail
    spans = [s for s in spans if s.end <= len(text)]
    return text, draw(st.permutations(spans)), values


@st.composite
def policies(draw):
    spec = {label: draw(st.sampled_from(OPERATORS)) for label in draw(st.sets(st.sampled_from(LABELS)))}
    return Policy.from_spec(spec, draw(st.sampled_from(OPERATORS)), DEFAULTS)


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), policies(), st.sampled_from(["merge", "longest", "highest_score"]))
def test_no_detected_text_survives_and_offsets_index_the_original(doc, policy, strategy):
    text, spans, values = doc
    result = anonymize(text, spans, policy, strategy)
    # every strategy: each character any detector flagged lies inside an entity that was rewritten
    # (the greedy strategies clip losing spans rather than drop them)
    covered = {i for e in result.entities for i in range(e.start, e.end)}
    assert {i for s in spans for i in range(s.start, s.end)} <= covered
    # so no detected PII text survives: PII characters cannot come from filler or operator output
    for span in spans:
        if set(text[span.start : span.end]) & set(PII_CHARS):
            assert text[span.start : span.end] not in result.text
    for value in values:
        assert value not in result.text
    assert not set(PII_CHARS) & set(result.text) - set("‍")
    # entities: sorted, non-overlapping, inside the original text; the output is exactly the text
    # between them plus each entity's operator output
    rebuilt, cursor = [], 0
    for entity in result.entities:
        assert cursor <= entity.start < entity.end <= len(text)
        rebuilt += [text[cursor : entity.start], policy.operator_for(entity.label).apply(
            text[entity.start : entity.end], entity.label)]
        cursor = entity.end
    assert "".join([*rebuilt, text[cursor:]]) == result.text
    # JSON round trip keeps the offsets usable (code points, whatever the UTF-8 byte length)
    again = json.loads(json.dumps(result.to_dict(), ensure_ascii=False))
    assert [(e["start"], e["end"]) for e in again["entities"]] == [(e.start, e.end) for e in result.entities]


def test_offsets_after_emoji_and_cjk_are_character_offsets():
    text = "👍🏽 李小龍: zoë@例え.jp, 电话 +44 20 7946 0958"
    email = text.index("zoë@例え.jp")
    phone = text.index("+44")
    spans = [Entity("EMAIL", email, email + 9, 0.9, "pattern:email"), Entity("PHONE", phone, len(text), 0.9)]
    result = anonymize(text, spans)
    assert result.text == "👍🏽 李小龍: <EMAIL>, 电话 <PHONE>"
    assert [text[e.start : e.end] for e in result.entities] == ["zoë@例え.jp", "+44 20 7946 0958"]
    assert len(text.encode()) > len(text)  # the point of the test: bytes != characters


def test_each_operator_in_one_document():
    text = "John Smith, john@example.com, 4111111111111111, Paris, +1 415 555 0132"
    spans = [Entity("GIVEN_NAME", 0, 4, 0.9), Entity("SURNAME", 5, 10, 0.9), Entity("EMAIL", 12, 28, 0.9),
             Entity("CREDIT_CARD", 30, 46, 0.99), Entity("CITY", 48, 53, 0.9), Entity("PHONE", 55, 70, 0.9)]
    policy = default_policy(DEFAULTS).with_overrides(
        {"EMAIL": "hash", "CREDIT_CARD": {"type": "mask", "keep_last": 4}, "CITY": "keep", "PHONE": "remove"},
        defaults=DEFAULTS)
    result = anonymize(text, spans, policy)
    digest = policy.operator_for("EMAIL").apply("john@example.com", "EMAIL")
    assert result.text == f"<NAME>, {digest}, ************1111, Paris, "
    assert [e.label for e in result.entities] == ["NAME", "EMAIL", "CREDIT_CARD", "CITY", "PHONE"]


@pytest.mark.parametrize("strategy", ["merge", "longest", "highest_score"])
def test_a_kept_label_never_wins_an_overlap_with_a_redacted_one(strategy):
    text = "ring Springfield 555 0132 today"
    start = text.index("Springfield")
    phone = text.index("555")
    spans = [Entity("CITY", start, phone + 3, 0.99), Entity("PHONE", phone, phone + 8, 0.5, "pattern:phone")]
    result = anonymize(text, spans, Policy.from_spec({"CITY": "keep"}), strategy)
    assert "555" not in result.text and "0132" not in result.text


@pytest.mark.parametrize(("strategy", "expected"), [
    ("longest", [("EMAIL", "john."), ("URL", "smith@example.com")]),  # the URL span is longer
    ("highest_score", [("EMAIL", "john.smith@"), ("URL", "example.com")]),
])
def test_greedy_strategies_clip_the_loser_instead_of_leaking_its_rest(strategy, expected):
    text = "mail john.smith@example.com now"
    start = text.index("john")
    spans = [Entity("EMAIL", start, start + 11, 0.99), Entity("URL", start + 5, text.index(" now"), 0.5)]
    result = anonymize(text, spans, conflict=strategy)
    assert result.text == "mail <EMAIL><URL> now"
    assert [(e.label, text[e.start : e.end]) for e in result.entities] == expected


def test_neighbours_with_different_operators_stay_apart():
    text = "John Smith"
    spans = [Entity("GIVEN_NAME", 0, 4, 0.9), Entity("SURNAME", 5, 10, 0.9)]
    assert anonymize(text, spans, Policy.from_spec({"GIVEN_NAME": "keep"})).text == "John <SURNAME>"


def test_empty_text_and_no_spans():
    assert anonymize("", []).text == ""
    assert anonymize("nothing here", []).text == "nothing here"


@pytest.mark.parametrize(("start", "end"), [(-1, 2), (3, 99), (5, 2)])
def test_spans_outside_the_text_are_rejected_without_echoing_it(start, end):
    with pytest.raises(RedactError) as info:
        anonymize("secret value", [Entity("X", start, end, 0.5)])
    assert "secret" not in str(info.value)
