"""``ner-stage worker --help`` documents every setting as a flag with its NER_* variable; secrets have no flag."""

from __future__ import annotations

from click.testing import CliRunner

from pipeline.cli.main import cli
from pipeline.kafka.settings import KafkaSettings
from pipeline.records.settings import RecordSettings


def test_every_setting_has_a_documented_flag_and_env_name_and_secrets_have_none():
    result = CliRunner().invoke(cli, ["worker", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for name in KafkaSettings.model_fields:
        flag, env = "--" + name.replace("_", "-"), f"NER_{name.upper()}"
        if name in ("sasl_password", "ssl_key_password", "schema_registry_auth"):
            assert flag not in text and env in text  # read from the environment or config file only
        else:
            assert flag in text and env in text, name
    for flag in ("--exactly-once", "--workers", "--format", "--model", "--threads", "--metrics-port"):
        assert flag in text
    for name in RecordSettings.model_fields:  # the record view: --text-fields, --field-policy, ...
        assert "--" + name.replace("_", "-") in text and f"NER_{name.upper()}" in text, name


def test_record_view_settings_from_flags_env_and_config_file(monkeypatch, tmp_path):
    import click

    from pipeline.cli.options import settings_from, settings_options

    seen = {}

    @click.command()
    @settings_options(RecordSettings, multi=("field_policy",))
    def command(**kwargs):
        seen["records"] = settings_from(RecordSettings, kwargs)

    monkeypatch.setenv("NER_ID_FIELD", "@key")
    result = CliRunner().invoke(command, ["--text-fields", "subject, comments[*].text", "--redacted-mode", "in-place",
                                          "--field-policy", "customer.email=hash", "--field-policy",
                                          'customer.phone={"type": "mask", "keep_last": 2}'])
    assert result.exit_code == 0, result.output
    records = seen["records"]
    assert records.text_fields == ["subject", "comments[*].text"] and records.id_field == "@key" and records.in_place
    assert records.field_policy == {"customer.email": "hash", "customer.phone": {"type": "mask", "keep_last": 2}}
    monkeypatch.setenv("NER_FIELD_POLICY", '{"customer.ssn": "remove"}')
    assert RecordSettings.load().field_policy == {"customer.ssn": "remove"}
    config = tmp_path / "c.yaml"
    config.write_text("text_fields: [body]\nfield_policy: {customer.email: mask}\n")
    monkeypatch.delenv("NER_FIELD_POLICY")
    loaded = RecordSettings.load(config)
    assert loaded.text_fields == ["body"] and loaded.field_policy == {"customer.email": "mask"}


def test_bad_librdkafka_pair_is_a_usage_error():
    result = CliRunner().invoke(cli, ["worker", "--librdkafka", "novalue"])
    assert result.exit_code != 0
    assert "KEY=VALUE" in result.output
