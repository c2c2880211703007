"""The bench's synthetic PII corpus: reproducible, values really planted, leak rates counted right."""

from __future__ import annotations

from pipeline.bench.redact import TYPES, Document, corpus, leak_rates


def test_the_corpus_is_reproducible_and_plants_every_type():
    docs = corpus(40, seed=3)
    assert docs == corpus(40, seed=3)
    assert docs != corpus(40, seed=4)
    assert {kind for d in docs for kind, _ in d.planted} == set(TYPES)
    for doc in docs:
        for _, value in doc.planted:
            assert value and value in doc.text and "\n" not in value


def test_leak_rates_count_verbatim_and_partial_survivors():
    docs = [Document("Ann Lee a@b.co", (("name", "Ann Lee"), ("email", "a@b.co"))),
            Document("Rosa Diaz 555-0132", (("name", "Rosa Diaz"), ("phone", "555-0132")))]
    rates = leak_rates(docs, ["<NAME> a@b.co", "<GIVEN_NAME> Diaz <PHONE>"])
    assert rates["name"] == {"planted": 2, "leak_rate": 0.0, "partial_leak_rate": 0.5}  # "Diaz" survived
    assert rates["email"]["leak_rate"] == 1.0 and rates["phone"]["leak_rate"] == 0.0
    assert rates["iban"] == {"planted": 0, "leak_rate": 0.0, "partial_leak_rate": 0.0}
