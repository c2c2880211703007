"""``ner-stage bench kafka`` records case: a user's record with 3 text fields redacted IN PLACE
vs the same three texts joined into one ``{"id", "text"}`` envelope document, side by side.

Both sides give the model the same text (the record view joins a record's fields with a blank
line, exactly as the envelope documents are built here), so the difference is the record view's
own cost: finding the fields, anonymizing per field, writing the record back as JSON. Two
measurements, each interleaved A-B-B-A in halves so machine-load drift weighs on both sides:

- stage compute: the worker's ``BatchProcessor`` on in-memory records (no broker);
- Kafka end to end: the real worker in a child process per side, on fresh topics.

Target (issue 20): in-place >= 0.95 of the envelope's docs/s.
"""

from __future__ import annotations

import dataclasses

import orjson

from pipeline.devtools.bench.common import progress
from pipeline.devtools.bench.in_memory import processor_seconds

TARGET_IN_PLACE_VS_ENVELOPE = 0.95
FIELDS = ["subject", "body", "comments[*].text"]


def _pairs(texts: list[str]) -> tuple[list[tuple[bytes, bytes]], list[tuple[bytes, bytes]]]:
    """(in-place records, envelope documents): record i holds texts 3i..3i+2."""
    from pipeline.records.view import SEPARATOR

    records, docs = [], []
    for i in range(len(texts) // 3):
        subject, body, comment = texts[3 * i : 3 * i + 3]
        key = f"rec-{i}".encode()
        records.append((key, orjson.dumps({"id": f"rec-{i}", "subject": subject, "priority": i % 5, "body": body,
                                           "comments": [{"author": "agent", "text": comment}],
                                           "customer": {"tier": "gold"}})))
        docs.append((key, orjson.dumps({"id": f"rec-{i}", "text": SEPARATOR.join([subject, body, comment])})))
    return records, docs


def _stages(stage, run: str):
    from pipeline.records.settings import RecordSettings

    def side(name: str, records: RecordSettings):
        kafka = stage.kafka.model_copy(update={
            "input": [f"bench-in-{run}-{name}"], "group": f"bench-{run}-{name}",
            "entities_topic": f"bench-entities-{run}-{name}", "redacted_topic": f"bench-redacted-{run}-{name}",
            "dlq_topic": f"bench-dlq-{run}-{name}"})
        return dataclasses.replace(stage, kafka=kafka, records=records)

    return {"in_place": side("inplace", RecordSettings(text_fields=FIELDS, redacted_mode="in-place")),
            "envelope": side("envelope", RecordSettings())}


def _compute(service, stage, docs, batch: int) -> float:
    from pipeline.kafka.supervisor import build_processor

    return processor_seconds(build_processor(stage, service), docs, batch)


def records_case(service, stage, texts: list[str], bootstrap: str, run: str, timeout_s: float,
                 end_to_end) -> dict:
    """The side-by-side figures (``end_to_end``: ``kafka._kafka_end_to_end``)."""
    records, docs = _pairs(texts)
    inputs = {"in_place": records, "envelope": docs}
    stages = _stages(stage, run)
    batch = stage.kafka.batch_max_records
    half = len(records) // 2
    seconds = {"compute": {"in_place": 0.0, "envelope": 0.0}}
    progress(f"records case: {len(records)} records of 3 text fields, in place vs joined envelope documents")
    for side, part in (("in_place", slice(0, half)), ("envelope", slice(0, half)), ("envelope", slice(half, None)),
                       ("in_place", slice(half, None))):
        seconds["compute"][side] += _compute(service, stages[side], inputs[side][part], batch)
    seconds["end_to_end"] = {}
    for side in ("in_place", "envelope"):
        progress(f"  records case end to end: {side}")
        seconds["end_to_end"][side] = end_to_end(bootstrap, stages[side], inputs[side], timeout_s)["seconds"]
    rates = {kind: {side: len(records) / s for side, s in sides.items()} for kind, sides in seconds.items()}
    ratios = {kind: r["in_place"] / r["envelope"] for kind, r in rates.items()}
    return {"records": len(records), "text_fields": FIELDS, "seconds": seconds, "docs_per_s": rates,
            "in_place_vs_envelope": ratios, "target": TARGET_IN_PLACE_VS_ENVELOPE,
            "met": all(r >= TARGET_IN_PLACE_VS_ENVELOPE for r in ratios.values())}


def print_records(result: dict) -> None:
    import click

    case = result.get("records_case")
    if not case:
        return
    click.echo(f"records case: {case['records']} records, 3 text fields in place vs one joined envelope document")
    for kind, rates in case["docs_per_s"].items():
        ratio = case["in_place_vs_envelope"][kind]
        click.echo(f"  {kind:<11} in-place {rates['in_place']:8.1f} docs/s, envelope {rates['envelope']:8.1f} docs/s: "
                   f"{ratio:.3f} (target {case['target']}: {'met' if ratio >= case['target'] else 'MISSED'})")
