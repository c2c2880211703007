"""One answer per document on a real broker with the real model: the entity record and the
redacted record of each document list the same spans, and they are the spans ``/redact``
(``Redactor.redact`` over ``NerService``) returns for the same text."""

from __future__ import annotations

import pytest

from pipeline.devtools.bench.pii_corpus import dev
from pipeline.redact import Redactor, RedactSettings
from tests.integration.kafka.kafka_io import TopicReader, doc, produce

pytestmark = pytest.mark.integration


def test_entity_and_redacted_records_list_the_same_spans(kafka_broker, topics, in_process_worker, rampart_service):
    names = topics("input", "entities", "redacted", "dlq", partitions=2)
    docs = dev(100, seed=23)  # dialogue, prose lists, repeated names, e-mails, cards...
    texts = [d.text for d in docs] + ["Vojtěch Novák had given Vojtěch his address."]  # propagates (golden)
    produce(kafka_broker.bootstrap, names.input, [(None, doc(f"d{i}", t), None) for i, t in enumerate(texts)])
    in_process_worker(kafka_broker.bootstrap, names)

    entities, redacted = TopicReader(kafka_broker.bootstrap, names.entities), TopicReader(kafka_broker.bootstrap,
                                                                                          names.redacted)
    entities.at_least(len(texts), timeout=120)
    redacted.at_least(len(texts), timeout=30)
    ent_by_id = {r.json()["id"]: r.json() for r in entities.settle(0.5)}
    red_by_id = {r.json()["id"]: r.json() for r in redacted.settle(0.5)}
    entities.close()
    redacted.close()
    assert set(ent_by_id) == set(red_by_id) == {f"d{i}" for i in range(len(texts))}

    http_answer = Redactor.from_settings(RedactSettings(), rampart_service).redact(texts)
    sources: set[str] = set()
    for i, text in enumerate(texts):
        ents, red = ent_by_id[f"d{i}"]["entities"], red_by_id[f"d{i}"]
        assert [(e["label"], e["start"], e["end"]) for e in ents] == [
            (e["label"], e["start"], e["end"]) for e in red["entities"]], f"d{i}"
        assert [(e["label"], e["start"], e["end"], e["source"]) for e in ents] == [
            (e.label, e.start, e.end, e.source) for e in http_answer[i].entities], f"d{i}"
        assert red["text"] == http_answer[i].text
        for e in ents:
            assert e["text"] == text[e["start"] : e["end"]]
            assert e["text"] not in red["text"] or len(e["text"]) < 4
            sources.update(e["source"].split("+"))
    # every kind of detector showed up in the one answer
    assert {"model", "model:recall", "propagated", "pattern:email"} <= sources, sources
