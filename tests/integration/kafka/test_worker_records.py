"""The record view on a real broker with the real model: a user's own records (nested JSON with
arrays, plain log lines) redacted in place, entity field paths, field policies, and records
that break the configured view dead-lettered while the worker goes on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.kafka.dead_letters import read_error_headers
from pipeline.records.settings import RecordSettings
from tests.integration.kafka.kafka_io import ROOT, TopicReader, produce, worker_args

pytestmark = pytest.mark.integration
ROLES = ("input", "entities", "redacted", "dlq")
PATHS = ["subject", "body", "comments[*].text", "customer.note"]
PEOPLE = [("Maria Garcia", "maria.garcia@example.org"), ("John Smith", "john.smith@example.com"),
          ("Wei Chen", "wei.chen@example.net"), ("Olga Ivanova", "olga@example.net")]


def _ticket(i: int) -> dict:
    name, email = PEOPLE[i % len(PEOPLE)]
    comments = [{"author": "agent", "at": 1700000000 + i, "text": f"Called {name.split()[0]} back, no answer."},
                {"author": "system", "text": None, "tags": ["auto", i]}]
    if i % 3 == 0:
        comments.append({"author": "customer", "text": f"Please write to {email} instead."})
    return {"ticket_id": f"T-{i}", "subject": f"Refund for {name}", "priority": i % 5, "score": 0.5 + i,
            "body": f"Hello, I am {name} and my address is {email}. Order {1000 + i} never arrived.",
            "comments": comments, "customer": {"email": email, "tier": "gold", "note": None, "vip": i % 2 == 0},
            "ünïcode": "ключ"}


def _scanned(record: dict) -> dict[str, str]:
    """The concrete path -> string of every scanned field (what the entity offsets point into)."""
    out = {"subject": record["subject"], "body": record["body"]}
    out.update({f"comments[{j}].text": c["text"] for j, c in enumerate(record["comments"]) if c.get("text")})
    return out


def test_nested_json_records_are_redacted_in_place_with_field_paths(kafka_broker, topics, in_process_worker):
    names = topics(*ROLES, partitions=2)
    tickets = [_ticket(i) for i in range(24)]
    poison = [  # non-string at a text path: dead-lettered naming the path; the worker goes on
        (b"bad-1", json.dumps({"ticket_id": "B-1", "subject": 42, "body": "zebraquokka"}).encode()),
        (b"bad-2", json.dumps({"ticket_id": "B-2", "comments": [{"text": "ok"}, {"text": ["zebraquokka"]}]}).encode()),
    ]
    records = [(f"t{i}".encode(), json.dumps(t).encode(), [("trace", f"x{i}".encode()), ("ner.fake", b"1")])
               for i, t in enumerate(tickets)]
    records[5:5] = [(k, v, []) for k, v in poison]
    produce(kafka_broker.bootstrap, names.input, records[:13], partition=1)
    produce(kafka_broker.bootstrap, names.input, records[13:], partition=0)
    in_process_worker(kafka_broker.bootstrap, names, RecordSettings(
        text_fields=PATHS, id_field="ticket_id", redacted_mode="in-place",
        field_policy={"customer.email": "mask"}))

    redacted = TopicReader(kafka_broker.bootstrap, names.redacted).at_least(24, timeout=120)
    entities = TopicReader(kafka_broker.bootstrap, names.entities).at_least(24, timeout=30)
    letters = TopicReader(kafka_broker.bootstrap, names.dlq).at_least(2, timeout=30)

    by_key = {key: (value, headers) for key, value, headers in records}
    for rec in redacted:
        original = json.loads(by_key[rec.key][0])
        out = rec.json()
        assert list(out) == list(original)  # same fields, same key order
        assert rec.headers == [("trace", by_key[rec.key][1][0][1])]  # incoming ner.* dropped
        assert rec.partition == (1 if int(rec.key[1:]) < 11 else 0)  # the input partition
        name, email = PEOPLE[int(rec.key[1:]) % len(PEOPLE)]
        scanned = json.dumps([out["subject"], out["body"], [c.get("text") for c in out["comments"]]])
        assert email not in scanned and name.split()[-1] not in scanned and name.split()[0] not in scanned
        assert out["customer"]["email"] == "*" * len(email)
        # everything else, byte for byte after a JSON round trip
        for key in ("ticket_id", "priority", "score", "ünïcode"):
            assert json.dumps(out[key]) == json.dumps(original[key])
        assert {k: v for k, v in out["customer"].items() if k != "email"} == \
            {k: v for k, v in original["customer"].items() if k != "email"}
        for got, want in zip(out["comments"], original["comments"], strict=True):
            assert {k: v for k, v in got.items() if k != "text"} == {k: v for k, v in want.items() if k != "text"}
        assert out["comments"][1]["text"] is None

    ticket_of = {t["ticket_id"]: t for t in tickets}
    fields_seen = set()
    for rec in entities:
        body = rec.json()
        scanned = _scanned(ticket_of[body["id"]])
        assert body["entities"]
        for e in body["entities"]:
            assert e["field"] in scanned, e["field"]
            assert scanned[e["field"]][e["start"] : e["end"]] == e["text"]
            fields_seen.add(e["field"].split("[")[0])
    assert fields_seen >= {"subject", "body", "comments"}

    assert sorted(r.key for r in letters) == [b"bad-1", b"bad-2"]
    for letter in letters:
        headers = read_error_headers(letter.headers)
        assert headers["ner.error.class"] == "FieldTypeError"
        assert ("subject" if letter.key == b"bad-1" else "comments[1].text") in headers["ner.error.message"]
        assert "zebraquokka" not in json.dumps(headers) and letter.value == by_key[letter.key][0]


LINES = ["2026-01-02T10:00:00Z INFO login ok for maria.garcia@example.org from 10.0.0.7",
         "2026-01-02T10:00:01Z WARN password reset asked by John Smith (john.smith@example.com)",
         "2026-01-02T10:00:02Z INFO nothing personal here"]


@pytest.mark.parametrize(("id_field", "mode"), [("@key", "in-place"), ("@offset", "envelope")])
def test_plain_log_lines_with_key_and_offset_ids(kafka_broker, topics, in_process_worker, id_field, mode):
    names = topics(*ROLES)
    produce(kafka_broker.bootstrap, names.input, [(f"line-{i}".encode(), line.encode(), None)
                                                  for i, line in enumerate(LINES)])
    in_process_worker(kafka_broker.bootstrap, names, RecordSettings(id_field=id_field, redacted_mode=mode),
                      format="text")
    entities = TopicReader(kafka_broker.bootstrap, names.entities).at_least(3, timeout=90)
    redacted = TopicReader(kafka_broker.bootstrap, names.redacted).at_least(3, timeout=30)
    ids = sorted(r.json()["id"] for r in entities)
    want = [f"line-{i}" for i in range(3)] if id_field == "@key" else [f"{names.input}/0/{i}" for i in range(3)]
    assert ids == want
    assert {e["field"] for r in entities for e in r.json()["entities"]} == {"@value"}
    texts = sorted((r.key, r.value.decode() if mode == "in-place" else r.json()["text"]) for r in redacted)
    assert "maria.garcia@example.org" not in texts[0][1] and "<EMAIL>" in texts[0][1]
    assert "john.smith@example.com" not in texts[1][1] and "Smith" not in texts[1][1]
    assert texts[2][1] == LINES[2]
    if mode == "in-place":
        assert texts[0][1].startswith("2026-01-02T10:00:00Z INFO login ok for ")


def test_field_policies_and_a_per_record_type_mismatch(kafka_broker, topics, in_process_worker, monkeypatch):
    monkeypatch.setenv("NER_HASH_KEY", "integration-test-key")
    names = topics(*ROLES)
    records = [
        (b"a", json.dumps({"id": "a", "text": "hi", "customer": {"email": "a@b.example", "phone": "5550132",
                                                                  "ssn": "123-45-6789", "tier": 1}}).encode(), None),
        (b"b", json.dumps({"id": "b", "customer": {"email": None, "phone": 5550132}}).encode(), None),  # a number
        (b"c", json.dumps({"id": "c", "customer": {"email": "A@B.example"}}).encode(), None),
    ]
    produce(kafka_broker.bootstrap, names.input, records)
    in_process_worker(kafka_broker.bootstrap, names, RecordSettings(
        redacted_mode="in-place", field_policy={"customer.email": "hash", "customer.ssn": "remove",
                                                "customer.phone": {"type": "mask", "keep_last": 2}}))
    redacted = {r.key: r.json() for r in TopicReader(kafka_broker.bootstrap, names.redacted).at_least(2, timeout=90)}
    (letter,) = TopicReader(kafka_broker.bootstrap, names.dlq).at_least(1, timeout=30)
    a, c = redacted[b"a"]["customer"], redacted[b"c"]["customer"]
    assert list(a) == ["email", "phone", "tier"] and a["phone"] == "*****32" and a["tier"] == 1
    assert a["email"].startswith("<EMAIL_") and a["email"] == c["email"]  # a keyed pseudonym, stable
    headers = read_error_headers(letter.headers)
    assert letter.key == b"b" and headers["ner.error.class"] == "FieldPolicyError"
    assert "customer.phone" in headers["ner.error.message"] and "5550132" not in json.dumps(headers)


SCHEMA = {"type": "record", "name": "Ticket", "fields": [
    {"name": "body", "type": "string"}, {"name": "ssn", "type": "string"}]}


def test_a_field_policy_the_avro_schema_refuses_stops_the_worker_at_start(tmp_path):
    schema = tmp_path / "ticket.avsc"
    schema.write_text(json.dumps(SCHEMA))
    args = worker_args("127.0.0.1:1", type("N", (), {"input": "in", "entities": "e", "redacted": "r",
                                                      "dlq": "d"})(), "g",
                       "--format", "avro", "--input-schema", str(schema), "--text-fields", "body",
                       "--redacted-mode", "in-place", "--field-policy", "ssn=remove")
    done = subprocess.run([sys.executable, "-m", "pipeline.cli.main", "worker", *args], cwd=ROOT, timeout=120,
                          capture_output=True, text=True)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "ssn=remove" in done.stdout + done.stderr and "not nullable" in done.stdout + done.stderr
