"""Issue 22 on a real broker with the real model: a document that reached the pipeline escaped
(a literal backslash-n, as in a log line JSON-escaped twice) loses a name at every place it
occurs, the plain one and the one glued to the escape, in both output records; offsets index
the original text."""

from __future__ import annotations

import pytest

from tests.integration.kafka.kafka_io import TopicReader, doc, produce

pytestmark = pytest.mark.integration

TEXTS = {
    "plain-then-escaped": 'Selam asked for the keys.\\nSelam: "Who are you?"\\nMesfin: "A friend."',
    "escaped-only": 'ok\\nVojtěch Novák wrote again.\\nVojtěch signed it.',
}


def test_a_name_after_a_literal_backslash_n_is_redacted_everywhere(kafka_broker, topics, in_process_worker):
    names = topics("input", "entities", "redacted", "dlq")
    produce(kafka_broker.bootstrap, names.input, [(None, doc(i, t), None) for i, t in TEXTS.items()])
    in_process_worker(kafka_broker.bootstrap, names)
    entities, redacted = (TopicReader(kafka_broker.bootstrap, t) for t in (names.entities, names.redacted))
    entities.at_least(len(TEXTS), timeout=120)
    redacted.at_least(len(TEXTS), timeout=30)
    ents = {r.json()["id"]: r.json()["entities"] for r in entities.settle(0.5)}
    reds = {r.json()["id"]: r.json()["text"] for r in redacted.settle(0.5)}
    entities.close()
    redacted.close()

    for doc_id, text in TEXTS.items():
        for name in ("Selam", "Mesfin", "Vojtěch", "Novák"):
            assert name not in reds[doc_id], (doc_id, reds[doc_id])
        assert reds[doc_id].count("\\n") == text.count("\\n"), "the escapes themselves are kept"
        spans = [(e["start"], e["end"]) for e in ents[doc_id]]
        for name in ("Selam", "Vojtěch"):
            at = [i for i in range(len(text)) if text.startswith(name, i)]
            for i in at:  # every occurrence, the one after "\n" included, is inside a span
                assert any(s <= i and i + len(name) <= e for s, e in spans), (doc_id, name, i)
        for e in ents[doc_id]:
            assert e["text"] == text[e["start"] : e["end"]]
