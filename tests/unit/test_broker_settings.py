"""``ner-stage broker`` settings: node i listens on PORT+i, so a port range past 65535 is refused
before any JVM starts (it used to surface as a Java stack trace from the last node)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pipeline.cli.main import cli
from pipeline.devtools.settings import BrokerSettings
from pipeline.errors import NerStageError


def test_ports_past_65535_are_refused_with_the_range_named():
    with pytest.raises(NerStageError, match="needs ports up to 65536"):
        BrokerSettings.load(None, broker_port=65534, broker_count=3)
    assert BrokerSettings.load(None, broker_port=65533, broker_count=3).broker_count == 3
    assert BrokerSettings.load(None, broker_port=0, broker_count=9).broker_port == 0  # free ports


def test_the_cli_refuses_them_before_starting_anything():
    result = CliRunner().invoke(cli, ["broker", "--port", "65534", "--brokers", "3"])
    assert result.exit_code != 0  # the error reaches main(), which prints it as one line (exit 2)
    assert isinstance(result.exception, NerStageError) and "needs ports up to 65536" in str(result.exception)
