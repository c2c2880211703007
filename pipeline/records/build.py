"""The one place a :class:`~pipeline.records.view.RecordView` is built from settings (the
Kafka worker, ``ner-stage run`` and ``ner-stage redact --file`` all call it)."""

from __future__ import annotations

from pipeline.errors import ConfigError
from pipeline.records.formats import JsonFormat, RecordFormat, TextFormat, avro_file_format, registry_format
from pipeline.records.policies import FieldPolicies
from pipeline.records.settings import RecordSettings
from pipeline.records.view import DEFAULT_FIELD, ContractReader, RecordView
from pipeline.redact.operators import OperatorDefaults
from pipeline.redact.settings import RedactSettings


def uses_contract(records: RecordSettings, fmt: str) -> bool:
    """Today's ``{"id", "text"}`` document contract (validated as before), or a user's record?"""
    return (records.text_fields == [DEFAULT_FIELD] and records.id_field in (None, "id") and not records.in_place
            and not records.field_policy and fmt != "text")


def record_format(records: RecordSettings, fmt: str, codec=None) -> RecordFormat:
    if fmt == "json":
        return JsonFormat()
    if fmt == "text":
        return TextFormat()
    if fmt == "avro":
        if not records.input_schema:
            raise ConfigError("format avro with --text-fields or in-place output needs --input-schema FILE.avsc "
                              "(the producer's writer schema)")
        return avro_file_format(records.input_schema)
    if fmt == "avro-registry":
        return registry_format(codec)
    raise ConfigError(f"unknown record format {fmt!r}")


def build_view(records: RecordSettings, fmt: str, *, max_chars: int, redact: RedactSettings | None = None,
               codec=None, contract: ContractReader | None = None) -> RecordView:
    """``codec``: the registry codec (avro-registry); ``contract``: reads the default document."""
    redact = redact or RedactSettings()
    text_fields = records.text_fields
    if fmt == "text" and text_fields == [DEFAULT_FIELD]:
        text_fields = ["@value"]
    if uses_contract(records, fmt):
        return RecordView(max_chars=max_chars, contract=contract)
    defaults = OperatorDefaults(hash_key=redact.hash_key_bytes(), mask_char=redact.mask_char)
    policies = FieldPolicies.from_spec(records.field_policy, defaults)
    form = record_format(records, fmt, codec)
    return RecordView(text_fields=text_fields, id_field=records.id_field, fmt=form, in_place=records.in_place,
                      policies=policies, max_chars=max_chars, schema=getattr(form, "schema", None))
