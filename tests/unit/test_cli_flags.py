"""Every command's flags are generated from its settings classes: each non-secret setting has a
flag documented with its NER_* variable; secrets have none; flag values reach the settings."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from pipeline.cli.main import cli
from pipeline.cli.options import as_flags, settings_from, settings_options
from pipeline.config import DecodeSettings, ModelSettings
from pipeline.http.settings import HttpSettings
from pipeline.redact.settings import RedactSettings

SECRETS = {"api_keys", "callback_secret", "hash_key", "sasl_password", "ssl_key_password", "schema_registry_auth"}


def _settings(command: str) -> list[type]:
    from pipeline.cli.text_io import EvalSettings, PredictSettings, TextIOSettings
    from pipeline.devtools.settings import BrokerSettings, RunSettings
    from pipeline.kafka.settings import KafkaSettings
    from pipeline.records.settings import RecordSettings

    return {"broker": [BrokerSettings],
            "serve": [HttpSettings, RedactSettings, DecodeSettings, ModelSettings],
            "worker": [KafkaSettings, RecordSettings, RedactSettings, DecodeSettings, ModelSettings],
            "predict": [TextIOSettings, PredictSettings, DecodeSettings, ModelSettings],
            "eval": [EvalSettings, DecodeSettings, RedactSettings, ModelSettings],
            "redact": [TextIOSettings, RedactSettings, DecodeSettings, ModelSettings],
            "run": [RunSettings, RecordSettings, DecodeSettings, ModelSettings]}[command]


COMMANDS = ["serve", "worker", "predict", "eval", "redact", "run", "broker", "topics", "produce", "export"]
#: options that are not settings: --config names the file, --exactly-once is --delivery's shorthand
NOT_SETTINGS = {"config_file", "help", "exactly_once", "version"}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_of_a_command_is_a_setting_with_its_variable(command):
    """Catches a plain click option added beside the generated ones: it would have no NER_* variable."""
    from pipeline.cli.main import COMMANDS as ALL

    assert set(COMMANDS) | {"build-engine", "bench"} == set(ALL)  # build-engine: tests/unit/test_trt_plan.py
    cmd = cli.get_command(None, command)
    for sub in [cmd, *getattr(cmd, "commands", {}).values()]:  # `topics` is a group of two
        for param in sub.params:
            if isinstance(param, click.Option) and not param.hidden and param.name not in NOT_SETTINGS:
                assert param.help and "[NER_" in param.help, (command, sub.name, param.name)


@pytest.mark.parametrize("command", COMMANDS[:7])
def test_every_setting_has_a_documented_flag_and_secrets_have_none(command):
    result = CliRunner().invoke(cli, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for cls in _settings(command):
        for name in cls.model_fields:
            flag, env = "--" + name.replace("_", "-"), f"NER_{name.upper()}"
            if name in SECRETS:
                assert f"{flag} " not in text and env in text, name  # named in the command's help
            else:
                assert flag in text and env in text, (command, name)


def test_flags_reach_settings_in_the_settings_own_types(monkeypatch):
    import click

    seen = {}

    @click.command()
    @settings_options(HttpSettings, aliases={"workers_uvloop": "uvloop"})
    @settings_options(DecodeSettings)
    def command(**kwargs):
        seen["http"] = settings_from(HttpSettings, kwargs)
        seen["decode"] = settings_from(DecodeSettings, kwargs)

    monkeypatch.setenv("NER_MAX_INPUTS", "7")
    result = CliRunner().invoke(command, ["--callback-allow-list", "127.0.0.1, 10.0.0.0/8", "--no-uvloop",
                                          "--label-thresholds", '{"EMAIL": 0.9}', "--ignore-labels", "O,CITY",
                                          "--request-max-engine-s", "2.5", "--jobs-db", "x.sqlite3"])
    assert result.exit_code == 0, result.output
    http, decode = seen["http"], seen["decode"]
    assert http.callback_allow_list == ["127.0.0.1", "10.0.0.0/8"] and http.workers_uvloop is False
    assert http.request_max_engine_s == 2.5 and str(http.jobs_db) == "x.sqlite3" and http.max_inputs == 7
    assert decode.label_thresholds == {"EMAIL": 0.9} and decode.ignore_labels == ["O", "CITY"]
    bad = CliRunner().invoke(command, ["--label-thresholds", "{not json"])
    assert bad.exit_code != 0 and "--label-thresholds" in bad.output


def test_as_flags_round_trips_through_the_generated_options():
    import click

    seen = {}
    given = ModelSettings.load(model="rampart", threads=2, warmup=False, max_seq_len=128, device=1)

    @click.command()
    @settings_options(ModelSettings)
    def command(**kwargs):
        seen["model"] = settings_from(ModelSettings, kwargs)

    result = CliRunner().invoke(command, as_flags(ModelSettings, given.model_dump()))
    assert result.exit_code == 0, result.output
    assert seen["model"] == given


def test_old_flag_names_still_work_with_a_warning():
    seen = {}

    @click.command()
    @settings_options(ModelSettings)
    def command(**kwargs):
        seen["model"] = settings_from(ModelSettings, kwargs)

    result = CliRunner().invoke(command, ["--max-batch-tokens", "512", "--max-chars", "9"])
    assert result.exit_code == 0, result.output
    assert seen["model"].engine_batch_tokens == 512 and seen["model"].max_text_chars == 9
    assert "--max-batch-tokens" not in CliRunner().invoke(command, ["--help"]).output  # hidden


def test_a_field_shared_by_two_classes_is_one_flag_both_read():
    from pipeline.kafka.settings import KafkaSettings

    seen = {}

    @click.command()
    @settings_options(KafkaSettings)
    @settings_options(ModelSettings)
    def command(**kwargs):
        seen["kafka"] = settings_from(KafkaSettings, kwargs)
        seen["model"] = settings_from(ModelSettings, kwargs)

    assert [p.name for p in command.params].count("max_text_chars") == 1
    result = CliRunner().invoke(command, ["--max-text-chars", "77"])
    assert result.exit_code == 0, result.output
    assert seen["kafka"].max_text_chars == 77 == seen["model"].max_text_chars
