"""Conflict strategies: overlaps and neighbours become one span per replacement."""

from __future__ import annotations

import typing

import pytest

from pipeline.redact.conflicts import STRATEGIES, resolve
from pipeline.redact.errors import PolicyError
from pipeline.redact.settings import ConflictName
from pipeline.spans import Entity

TEXT = "Call John Smith at +1 (415) 555-0132 today."


def span(text, value, label, score=0.9, source="model", nth=0):
    start = -1
    for _ in range(nth + 1):
        start = text.index(value, start + 1)
    return Entity(label, start, start + len(value), score, source)


def test_settings_offer_exactly_the_named_strategies():
    assert set(typing.get_args(ConflictName)) == set(STRATEGIES)


def test_given_name_and_surname_become_one_name():
    spans = [span(TEXT, "John", "GIVEN_NAME", 0.99), span(TEXT, "Smith", "SURNAME", 0.8)]
    (name,) = resolve(spans, TEXT)
    assert (name.label, TEXT[name.start : name.end], name.score) == ("NAME", "John Smith", 0.99)


def test_subword_pieces_of_one_label_stay_that_label():
    text = "mail johnsmith@example.com"
    pieces = [Entity("EMAIL", 5, 9, 0.7), Entity("EMAIL", 9, 14, 0.9), Entity("EMAIL", 14, 26, 0.8)]
    assert resolve(pieces, text) == [Entity("EMAIL", 5, 26, 0.9, "model")]


def test_model_and_pattern_spans_over_one_number_merge_into_their_union():
    model = span(TEXT, "(415) 555-0132", "PHONE", 0.97)
    pattern = span(TEXT, "+1 (415) 555-0132", "PHONE", 0.85, "pattern:phone")
    (phone,) = resolve([model, pattern], TEXT)
    assert TEXT[phone.start : phone.end] == "+1 (415) 555-0132"
    assert phone.source == "model+pattern:phone" and phone.score == 0.97


def test_union_of_different_labels_takes_the_longest_members_label():
    text = "IBAN DE89 3704 0044 0532 0130 00"
    spans = [span(text, "DE89", "DRIVERS_LICENSE", 0.7), span(text, "3704 0044", "GOVERNMENT_ID", 0.6),
             span(text, "DE89 3704 0044 0532 0130 00", "IBAN", 0.99, "pattern:iban")]
    (iban,) = resolve(spans, text)
    assert (iban.label, iban.start, iban.end) == ("IBAN", 5, len(text))


def test_neighbours_of_other_groups_or_too_far_apart_do_not_merge():
    text = "John\nSmith | Jane     Doe | Paris Smith"
    spans = [span(text, "John", "GIVEN_NAME"), span(text, "Smith", "SURNAME"),
             span(text, "Jane", "GIVEN_NAME"), span(text, "Doe", "SURNAME"),
             span(text, "Paris", "CITY"), span(text, "Smith", "SURNAME", nth=1)]
    assert [e.label for e in resolve(spans, text)] == ["GIVEN_NAME", "SURNAME", "GIVEN_NAME", "SURNAME", "CITY",
                                                        "SURNAME"]


def test_address_parts_become_one_address():
    text = "at 221B Baker Street, London NW1 6XE."
    spans = [span(text, "221B", "BUILDING_NUMBER"), span(text, "Baker Street", "STREET_NAME"),
             span(text, "London", "CITY"), span(text, "NW1 6XE", "ZIP_CODE")]
    got = [(e.label, text[e.start : e.end]) for e in resolve(spans, text)]
    assert got == [("ADDRESS", "221B Baker Street, London NW1 6XE")]


def test_only_address_parts_join_across_a_comma():
    text = "Ann Lee, Bob Ray live at 1600 Main Street, , Springfield"
    spans = [span(text, "Ann", "GIVEN_NAME"), span(text, "Lee", "SURNAME"), span(text, "Bob", "GIVEN_NAME"),
             span(text, "Ray", "SURNAME"), span(text, "1600", "BUILDING_NUMBER"),
             span(text, "Main Street", "STREET_NAME"), span(text, "Springfield", "CITY")]
    got = [(e.label, text[e.start : e.end]) for e in resolve(spans, text)]
    assert got == [("NAME", "Ann Lee"), ("NAME", "Bob Ray"), ("ADDRESS", "1600 Main Street"), ("CITY", "Springfield")]


def test_a_veto_keeps_neighbours_apart():
    spans = [span(TEXT, "John", "GIVEN_NAME"), span(TEXT, "Smith", "SURNAME")]
    assert len(resolve(spans, TEXT, mergeable=lambda left, right, merged: False)) == 2


@pytest.mark.parametrize(("strategy", "expected"), [
    ("longest", [("URL", "https://x.org/?to=john@example.com")]),
    ("highest_score", [("URL", "https://x.org/?to="), ("EMAIL", "john@example.com")]),
])
def test_greedy_strategies_give_the_overlap_to_the_winner_and_clip_the_rest(strategy, expected):
    text = "see https://x.org/?to=john@example.com now"
    spans = [span(text, "https://x.org/?to=john@example.com", "URL", 0.8, "pattern:url"),
             span(text, "john@example.com", "EMAIL", 0.99)]
    assert [(e.label, text[e.start : e.end]) for e in resolve(spans, text, strategy)] == expected


def test_a_winner_inside_a_loser_splits_it_in_two():
    text = "aaaa bbbb cccc"
    spans = [Entity("X", 0, 14, 0.5), Entity("Y", 5, 9, 0.9)]
    got = [(e.label, e.start, e.end) for e in resolve(spans, text, "highest_score")]
    assert got == [("X", 0, 5), ("Y", 5, 9), ("X", 9, 14)]


def test_output_is_sorted_without_overlaps_or_empty_spans():
    text = "a" * 50
    spans = [Entity("X", 10, 20, 0.5), Entity("Y", 0, 5, 0.5), Entity("X", 15, 30, 0.9), Entity("Z", 40, 40, 1.0),
             Entity("Y", 3, 8, 0.7)]
    got = resolve(spans, text)
    assert [(e.start, e.end) for e in got] == [(0, 8), (10, 30)]


def test_unknown_strategy_is_an_error():
    with pytest.raises(PolicyError, match="conflict strategy"):
        resolve([], "", "random")
