"""``ner-stage run``'s user-shaped sample: a support ticket redacted IN PLACE beside the
``{"id", "text"}`` samples, to show field mapping without writing a translation stage.

A second worker (same process, same loaded model) reads the ticket topic with the record view
``--text-fields subject,body,comments[*].text --id-field ticket_id --redacted-mode in-place
--field-policy customer.email=mask`` and writes the ticket itself, redacted, plus an entity
record whose entities name their field (``comments[0].text``). Its topics carry a
``ner-stage-run-tickets`` prefix, so they never clash with a real cluster's topics.
"""

from __future__ import annotations

import dataclasses
import json

TOPIC = "ner-stage-run-tickets"
OUTPUTS = {"entities_topic": f"{TOPIC}-entities", "redacted_topic": f"{TOPIC}-redacted", "dlq_topic": f"{TOPIC}-dlq"}
TICKET = {
    "ticket_id": "T-1042", "status": "open", "priority": 2,
    "subject": "Refund for order 88231 (Maria Garcia)",
    "body": "Hi, this is Maria Garcia. My card was charged twice; call me on +1 (415) 555-0132 or write to "
            "maria.garcia@example.org.",
    "comments": [{"author": "agent-7", "text": "Called Maria back, left a voicemail."},
                 {"author": "agent-7", "text": "Refund issued to the card ending 1111."}],
    "customer": {"email": "maria.garcia@example.org", "tier": "gold"},
}
RECORD_VIEW = {"text_fields": ["subject", "body", "comments[*].text"], "id_field": "ticket_id",
               "redacted_mode": "in-place", "field_policy": {"customer.email": "mask"}}


def ticket_stage(stage):
    """The ticket worker's settings: the main stage's, on the ticket topics, JSON, the view above."""
    from pipeline.records.settings import RecordSettings

    kafka = stage.kafka.model_copy(update={"input": [TOPIC], "group": f"{stage.kafka.group}-tickets", "format": "json",
                                           **OUTPUTS})
    return dataclasses.replace(stage, kafka=kafka, records=RecordSettings(**RECORD_VIEW))


def topics() -> list[str]:
    return [TOPIC, *OUTPUTS.values()]


def ticket_record(key: str) -> tuple[str, bytes]:
    return key, json.dumps(TICKET).encode()


def decode(topic: str, value: bytes | None):
    """The ticket topics' records (JSON: the ticket redacted in place, the entity record)."""
    return json.loads(value or b"null") if topic in OUTPUTS.values() else None
