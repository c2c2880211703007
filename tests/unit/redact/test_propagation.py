"""Propagation: further occurrences of detected values, on word boundaries, with the value's label."""

from __future__ import annotations

from pipeline.redact import Redactor
from pipeline.redact.propagation import PROPAGATED, Propagation
from pipeline.spans import Entity


def values(text: str, found: list[Entity]) -> list[tuple[str, str]]:
    assert all(e.source == PROPAGATED for e in found)
    return [(text[e.start : e.end], e.label) for e in found]


def test_dialogue_speaker_detected_once_is_found_on_every_line():
    text = 'Selam: "Who are you?"\nMarta: "A friend."\nSelam: "Prove it."\nSelam: "Fine."'
    found = Propagation().find(text, [Entity("GIVEN_NAME", 0, 5, 0.99)])
    assert values(text, found) == [("Selam", "GIVEN_NAME"), ("Selam", "GIVEN_NAME")]
    assert [e.start for e in found] == [text.index("Selam", 1), text.rindex("Selam")]


def test_word_boundaries_and_non_latin_letters():
    text = "Vojtěch had given Vojtěch his address; Vojtěchová and XVojtěch are other words."
    found = Propagation().find(text, [Entity("GIVEN_NAME", 0, 7, 0.9)])
    assert values(text, found) == [("Vojtěch", "GIVEN_NAME")]


def test_multi_word_names_propagate_word_by_word_other_values_only_whole():
    text = "The Martin Karlsen version; Karlsen later. 12 Oak Street, then Oak again."
    spans = [Entity("NAME", 4, 18, 0.8, "spacy"), Entity("ADDRESS", 43, 56, 0.9)]
    assert values(text, Propagation().find(text, spans)) == [("Karlsen", "NAME")]


def test_case_insensitive_names_is_a_setting():
    text = "Selam said hi. SELAM! selam?"
    spans = [Entity("GIVEN_NAME", 0, 5, 0.9)]
    assert Propagation().find(text, spans) == []
    assert values(text, Propagation(ignore_case=True).find(text, spans)) == [("SELAM", "GIVEN_NAME"),
                                                                           ("selam", "GIVEN_NAME")]
    email = "Mail ann@x.org or ANN@X.ORG"
    assert Propagation(ignore_case=True).find(email, [Entity("EMAIL", 5, 14, 0.9)]) == []


def test_occurrences_inside_detected_spans_are_not_repeated_and_the_best_label_wins():
    text = "Lee Park met Lee; Lee"
    spans = [Entity("GIVEN_NAME", 0, 3, 0.6), Entity("SURNAME", 13, 16, 0.9)]
    found = Propagation().find(text, spans)
    assert values(text, found) == [("Lee", "SURNAME")]
    assert found[0].start == 18 and found[0].score == 0.9


def test_redactor_lists_propagated_spans_with_their_source():
    class FirstOnly:
        def entities(self, texts):
            return [[Entity("GIVEN_NAME", 0, 7, 0.9)] for _ in texts]

    (result,) = Redactor(FirstOnly()).redact(["Vojtěch had given Vojtěch his address"])
    assert result.text == "<GIVEN_NAME> had given <GIVEN_NAME> his address"
    assert [e.source for e in result.entities] == ["model", PROPAGATED]
