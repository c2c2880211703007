"""The record view: one record = one document (joined fields, propagation across them),
per-field redaction and entity paths, in-place write-back, ids, field policies, record errors."""

from __future__ import annotations

import json

import fastavro
import orjson
import pytest

from pipeline.errors import ConfigError, TextTooLongError
from pipeline.kafka.dead_letters import error_message
from pipeline.records.build import build_view
from pipeline.records.errors import FieldPolicyError, FieldTypeError, IdFieldError
from pipeline.records.formats import WriterSchemaFormat
from pipeline.records.policies import FieldPolicies
from pipeline.records.settings import RecordSettings
from pipeline.records.view import SEPARATOR, RecordView, entity_items
from pipeline.redact import Redactor, RedactSettings, build_recognizers
from pipeline.redact.operators import OperatorDefaults
from pipeline.spans import Entity
from schemas.contracts import read_avro, write_avro

TICKET = {"ticket_id": "T-1", "subject": "Refund", "priority": 3,
          "body": "Ana Lima wrote from ana@example.com", "comments": [
              {"author": "agent", "text": "Told Ana Lima to wait"}, {"author": "bot", "text": None},
              {"author": "ana", "text": "mail me: ana@example.com"}],
          "customer": {"email": "ana@example.com", "tier": "gold", "age": 41}}
PATHS = ["subject", "body", "comments[*].text"]


def _view(**settings) -> RecordView:
    settings.setdefault("text_fields", PATHS)
    records = RecordSettings.load(**settings)
    return build_view(records, settings.pop("fmt", "json"), max_chars=10_000,
                      redact=RedactSettings.load(hash_key="k" * 16))


def _read(view: RecordView, record, key=b"k"):
    return view.read(orjson.dumps(record), key, "tickets", 2, 17)


REDACTOR = Redactor(None, build_recognizers(["email"]))


def _name_spans(doc):
    """A stand-in for the model: the first "Ana Lima" of the joined text (the body's)."""
    start = doc.text.index("Ana Lima")
    return [Entity("NAME", start, start + 8, 0.9)]


def test_one_record_is_one_document_and_values_propagate_across_fields():
    view = _view(redacted_mode="in-place", id_field="ticket_id")
    doc = _read(view, TICKET)
    assert doc.id == "T-1"
    assert [f.path for f in doc.fields] == ["subject", "body", "comments[0].text", "comments[2].text"]
    assert doc.text == SEPARATOR.join(["Refund", TICKET["body"], "Told Ana Lima to wait", "mail me: ana@example.com"])
    red = view.redact(doc, REDACTOR, _name_spans(doc))
    items = entity_items(red)
    assert [(i["field"], i["label"], i["source"]) for i in items] == [
        ("body", "NAME", "model"), ("body", "EMAIL", "pattern:email"),
        ("comments[0].text", "NAME", "propagated"), ("comments[2].text", "EMAIL", "pattern:email")]
    for item in items:  # offsets point into that field's own string
        field_text = {f.path: doc.text[f.start : f.end] for f in doc.fields}[item["field"]]
        assert field_text[item["start"] : item["end"]] == item["text"]
    out = json.loads(view.write(doc, red))
    assert list(out) == list(TICKET)  # key order kept
    assert out["body"] == "<NAME> wrote from <EMAIL>" and out["comments"][0]["text"] == "Told <NAME> to wait"
    assert out["comments"][2]["text"] == "mail me: <EMAIL>"
    unscanned = {k: v for k, v in TICKET.items() if k not in ("body", "comments")}
    assert {k: out[k] for k in unscanned} == unscanned  # customer.email is not a text field
    assert [c["author"] for c in out["comments"]] == ["agent", "bot", "ana"] and out["comments"][1]["text"] is None
    # the envelope text is the fields' redacted strings, joined; offsets into the joined original
    assert red.text.split(SEPARATOR)[1] == out["body"]
    for e in red.entities:
        assert doc.text[e.start : e.end] in ("Ana Lima", "ana@example.com")


def test_an_entity_never_crosses_fields():
    view = _view()
    doc = _read(view, {"subject": "x Ana", "body": "Lima y"})
    span = Entity("NAME", 2, doc.text.index("Lima") + 4, 0.9)  # a model span over the separator
    red = view.redact(doc, Redactor(None, ()), [span])
    assert [(i["field"], i["text"]) for i in entity_items(red)] == [("subject", "Ana"), ("body", "Lima")]


def test_a_record_with_nothing_to_change_is_passed_on_as_its_bytes():
    view = _view(redacted_mode="in-place")
    doc = _read(view, {"subject": "hello", "other": 1})
    assert view.write(doc, view.redact(doc, REDACTOR, [])) is None


def test_the_default_view_is_the_document_contract():
    seen = []
    view = build_view(RecordSettings.load(), "json", max_chars=100,
                      contract=lambda value, topic: seen.append((value, topic)) or "doc")
    assert view.document_contract and view.read(b"v", None, "t", 0, 1) == "doc" and seen == [(b"v", "t")]


@pytest.mark.parametrize(("record", "path"), [
    ({"subject": 7}, "subject"), ({"comments": [{"text": "ok"}, {"text": {"a": "b"}}]}, "comments[1].text"),
    ({"body": ["a"]}, "body"), ({"body": True}, "body"),
])
def test_a_non_string_at_a_text_path_is_a_record_error_naming_the_path_not_the_value(record, path):
    with pytest.raises(FieldTypeError) as info:
        _read(_view(), record)
    assert info.value.path == path and path in error_message(info.value)
    assert "ok" not in error_message(info.value) and "b" not in str(info.value).replace(path, "")


def test_max_text_chars_bounds_the_sum_over_fields():
    view = RecordView(text_fields=["a", "b[*]"], fmt=_view().fmt, max_chars=12)
    assert view.read(b'{"a": "12345", "b": ["12345"]}', None, "t", 0, 0).text == "12345\n\n12345"
    with pytest.raises(TextTooLongError):
        view.read(b'{"a": "12345", "b": ["123456"]}', None, "t", 0, 0)
    many = orjson.dumps({"b": ["x"] * 100_000})  # the blank lines count: a million tiny fields cannot slip by
    with pytest.raises(TextTooLongError):
        view.read(many, None, "t", 0, 0)
    assert view.read(orjson.dumps({"b": [""] * 100_000}), None, "t", 0, 0).fields == ()  # empty: nothing to scan


@pytest.mark.parametrize(("id_field", "record", "key", "expected"), [
    ("ticket_id", {"ticket_id": "T-9"}, None, "T-9"),
    ("meta.n", {"meta": {"n": 12}}, None, "12"),
    ("ticket_id", {}, None, "tickets/2/17"),
    ("@key", {}, b"K-1", "K-1"),
    ("@key", {}, None, "tickets/2/17"),
    ("@offset", {"id": "x"}, b"K", "tickets/2/17"),
])
def test_ids(id_field, record, key, expected):
    assert _read(_view(id_field=id_field), record, key).id == expected


@pytest.mark.parametrize(("id_field", "record", "key"), [
    ("ticket_id", {"ticket_id": 1.5}, None), ("ticket_id", {"ticket_id": {"a": 1}}, None), ("@key", {}, b"\xff")])
def test_unusable_ids_are_record_errors(id_field, record, key):
    with pytest.raises(IdFieldError):
        _read(_view(id_field=id_field), record, key)


def test_text_format_is_one_text_with_an_offset_id_by_default():
    view = _view(text_fields=["text"], redacted_mode="in-place", fmt="text")
    doc = view.read(b"Ana wrote to ana@example.com", b"k", "logs", 0, 5)
    assert doc.id == "logs/0/5" and [f.path for f in doc.fields] == ["@value"]
    assert view.write(doc, view.redact(doc, REDACTOR, [])) == b"Ana wrote to <EMAIL>"
    with pytest.raises(ConfigError):
        _view(text_fields=["body"], fmt="text")


def test_field_policies_rewrite_whole_values_and_refuse_other_types():
    view = _view(redacted_mode="in-place", field_policy={"customer.email": "hash", "customer.tier": "mask",
                                                          "ticket_id": "remove", "missing.x": "hash"})
    doc = _read(view, TICKET)
    out = json.loads(view.write(doc, view.redact(doc, REDACTOR, [])))
    assert "ticket_id" not in out and out["customer"]["tier"] == "****"
    assert out["customer"]["email"].startswith("<EMAIL_") and "ana@" not in out["customer"]["email"]
    bad = _view(redacted_mode="in-place", field_policy={"customer.age": "mask"})
    with pytest.raises(FieldPolicyError) as info:
        _read(bad, TICKET)
    assert info.value.path == "customer.age" and "customer.age" in error_message(info.value)


@pytest.mark.parametrize(("settings", "match"), [
    ({"field_policy": {"customer.email": "hash"}}, "in-place"),
    ({"redacted_mode": "in-place", "field_policy": {"body": "hash"}}, "both"),
    ({"redacted_mode": "in-place", "field_policy": {"customer.email": "shred"}}, "unknown operator"),
    ({"redacted_mode": "in-place", "field_policy": {"tags[0]": "remove"}}, "field name"),
    ({"text_fields": ["comments[*"]}, "cannot read"),
])
def test_start_up_errors(settings, match):
    with pytest.raises(ConfigError, match=match):
        _view(**settings)


SCHEMA = fastavro.parse_schema({
    "type": "record", "name": "Ticket", "namespace": "t", "fields": [
        {"name": "id", "type": "long"},
        {"name": "body", "type": "string"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {"name": "state", "type": {"type": "enum", "name": "State", "symbols": ["OPEN", "CLOSED"]}},
        {"name": "comments", "type": {"type": "array", "items": {
            "type": "record", "name": "Comment", "fields": [{"name": "text", "type": "string"}]}}},
        {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
            {"name": "email", "type": ["null", "string"]}, {"name": "ssn", "type": "string"}]}}]})


def _avro_view(policies=None, paths=("body", "note", "comments[*].text")) -> RecordView:
    fmt = WriterSchemaFormat("avro", lambda v: (read_avro(v, SCHEMA), SCHEMA, None),
                             lambda r, w, _i: write_avro(r, w, "record"), SCHEMA)
    return RecordView(text_fields=paths, fmt=fmt, in_place=True, schema=SCHEMA,
                      policies=FieldPolicies.from_spec(policies or {}, OperatorDefaults(hash_key=b"k" * 16)))


def test_avro_in_place_keeps_the_writer_schema_and_nulls_removed_fields():
    view = _avro_view({"customer.email": "remove"})
    record = {"id": 7, "body": "write to ana@example.com", "note": None, "state": "OPEN",
              "comments": [{"text": "ana@example.com"}], "customer": {"email": "a@b.example", "ssn": "1"}}
    doc = view.read(write_avro(record, SCHEMA, "t"), None, "t", 0, 0)
    back = read_avro(view.write(doc, view.redact(doc, REDACTOR, [])), SCHEMA)
    assert back == {**record, "body": "write to <EMAIL>", "comments": [{"text": "<EMAIL>"}],
                    "customer": {"email": None, "ssn": "1"}}


@pytest.mark.parametrize(("policies", "paths", "match"), [
    ({"customer.ssn": "remove"}, ("body",), "not nullable"),
    ({"id": "hash"}, ("body",), "long"),
    ({"customer.phone": "mask"}, ("body",), "no field"),
    ({}, ("state",), "enum"),
    ({}, ("id",), "long"),
])
def test_avro_schema_checks_at_start(policies, paths, match):
    with pytest.raises(ConfigError, match=match):
        _avro_view(policies, paths)


@pytest.mark.parametrize("value", [b'{"body": "x", "n": NaN}', b'{"body": "x", "n": [1, -Infinity]}'])
def test_json_that_cannot_be_written_back_as_it_came_is_a_record_error(value):
    from schemas.errors import SchemaMismatchError

    with pytest.raises(SchemaMismatchError):
        _view(redacted_mode="in-place").read(value, None, "t", 0, 0)
    assert _view().read(b'{"body": "NaN and Infinity are words"}', None, "t", 0, 0).text.startswith("NaN")
