"""Every command's flags are generated from its settings classes: each non-secret setting has a
flag documented with its NER_* variable; secrets have none; flag values reach the settings."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pipeline.cli.main import cli
from pipeline.cli.options import as_flags, settings_from, settings_options
from pipeline.config import DecodeSettings, ModelSettings
from pipeline.http.settings import HttpSettings
from pipeline.redact.settings import RedactSettings

SECRETS = {"api_keys", "callback_secret", "hash_key"}


def _settings(command: str) -> list[type]:
    from pipeline.cli.broker import BrokerSettings
    from pipeline.cli.run import RunSettings
    from pipeline.records.settings import RecordSettings

    return {"broker": [BrokerSettings],
            "serve": [HttpSettings, RedactSettings, ModelSettings],
            "predict": [DecodeSettings, ModelSettings],
            "eval": [DecodeSettings, ModelSettings],
            "redact": [RedactSettings, ModelSettings],
            "run": [RunSettings, RecordSettings, ModelSettings]}[command]


@pytest.mark.parametrize("command", ["serve", "predict", "eval", "redact", "run", "broker"])
def test_every_setting_has_a_documented_flag_and_secrets_have_none(command):
    result = CliRunner().invoke(cli, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for cls in _settings(command):
        for name in cls.model_fields:
            flag, env = "--" + name.replace("_", "-"), f"NER_{name.upper()}"
            if name in SECRETS:
                assert f"{flag} " not in text, name
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
