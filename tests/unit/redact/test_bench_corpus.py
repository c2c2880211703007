"""The bench's synthetic PII corpora: reproducible, values really planted at their offsets, and
leaks, over-redaction and sources counted right."""

from __future__ import annotations

import pytest

from pipeline.devtools.bench.pii_corpus import CORPORA, TYPES, Document, Planted, corpus
from pipeline.devtools.bench.redact_metrics import by_source, leak_rates, over_redaction


@pytest.mark.parametrize("name", CORPORA)
def test_every_corpus_is_reproducible_and_plants_values_at_their_offsets(name):
    docs = corpus(name, 60, seed=3)
    assert docs == corpus(name, 60, seed=3)
    assert docs != corpus(name, 60, seed=4)
    assert {p.kind for d in docs for p in d.planted} <= set(TYPES)
    assert {p.kind for d in corpus(name, 300, seed=3) for p in d.planted} == set(TYPES)
    for doc in docs:
        for p in doc.planted:
            assert p.value and doc.text[p.start : p.end] == p.value and "\n" not in p.value


def test_heldout_differs_from_dev_in_generator_and_templates():
    dev, heldout = corpus("dev", 200), corpus("heldout", 200)
    dev_names = {p.value for d in dev for p in d.planted if p.kind == "name"}
    held_names = {p.value for d in heldout for p in d.planted if p.kind == "name"}
    assert len(dev_names & held_names) < 0.05 * len(held_names)
    assert not {d.text.split(" ")[0] for d in heldout} & {"Hi", "Dear", "Customer", "Wire"}


def test_repeated_references_plant_the_same_value_each_time():
    docs = [d for d in corpus("dev", 300, seed=1) if "Who are you?" in d.text]
    assert docs
    speakers = [p.value for p in docs[0].planted]
    assert speakers[0] == speakers[2] and speakers[1] == speakers[3]  # a: b: a: b:


DOCS = [Document("Ann Lee a@b.co", (Planted("name", "Ann Lee", 0, 7), Planted("email", "a@b.co", 8, 14))),
        Document("Rosa Diaz 555-0132 ok", (Planted("name", "Rosa Diaz", 0, 9), Planted("phone", "555-0132", 10, 18)))]


def test_leak_rates_count_wholly_visible_and_partly_visible_values_by_position():
    spans = [[(0, 7, "model")], [(0, 4, "model"), (10, 18, "pattern:phone")]]
    rates = leak_rates(DOCS, spans)
    assert rates["name"] == {"planted": 2, "leak_rate": 0.0, "partial_leak_rate": 0.5}  # "Diaz" left visible
    assert rates["email"]["leak_rate"] == 1.0 and rates["phone"]["leak_rate"] == 0.0
    assert rates["iban"] == {"planted": 0, "leak_rate": 0.0, "partial_leak_rate": 0.0}


def test_over_redaction_is_the_share_of_non_pii_characters_redacted():
    spans = [[(0, 14, "model")], [(0, 21, "model")]]  # everything, including " " between and " ok"
    got = over_redaction(DOCS, spans)
    assert got["non_pii_chars"] == 1 + 4 and got["redacted_non_pii_chars"] == 5 and got["over_redaction"] == 1.0
    assert over_redaction(DOCS, [[], []])["over_redaction"] == 0.0


def test_sources_count_spans_values_only_they_touched_and_non_pii_characters():
    spans = [[(0, 7, "model+propagated"), (8, 14, "pattern:email")], [(0, 9, "model"), (10, 21, "pattern:phone")]]
    got = by_source(DOCS, spans)
    assert got["pattern:email"] == {"spans": 1, "values_touched": 1, "values_only_this": 1, "non_pii_chars": 0}
    assert got["model"] == {"spans": 2, "values_touched": 2, "values_only_this": 1, "non_pii_chars": 0}
    assert got["propagated"]["values_only_this"] == 0
    assert got["pattern:phone"]["non_pii_chars"] == 3
