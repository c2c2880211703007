"""``ner-stage worker --help`` documents every setting as a flag with its NER_* variable; secrets have no flag."""

from __future__ import annotations

from click.testing import CliRunner

from pipeline.cli.main import cli
from pipeline.kafka.settings import KafkaSettings


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


def test_bad_librdkafka_pair_is_a_usage_error():
    result = CliRunner().invoke(cli, ["worker", "--librdkafka", "novalue"])
    assert result.exit_code != 0
    assert "KEY=VALUE" in result.output
