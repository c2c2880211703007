"""Apache Kafka preparation without running it: clear typed errors for what is missing, the
cache short-circuit, and the broker settings a single node or a cluster gets."""

from __future__ import annotations

import stat

import pytest

from pipeline.devtools.brokers.apache import artifacts
from pipeline.devtools.brokers.apache.cluster import ApacheNode, _server_properties


def _fake_tool(directory, name: str, stderr: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{stderr}' >&2\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_missing_java_is_one_typed_error_naming_java(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(artifacts.JavaNotFoundError, match="'java' is not on PATH"):
        artifacts.java_executable()


def test_java_older_than_17_is_refused(monkeypatch, tmp_path):
    _fake_tool(tmp_path, "java", 'openjdk version "11.0.22" 2024-01-16')
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(artifacts.JavaNotFoundError, match=r"needs Java 17\+.*Java 11"):
        artifacts.java_executable()


def test_missing_maven_with_an_empty_cache_names_mvn(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(artifacts.MavenNotFoundError, match="'mvn' is not on PATH"):
        artifacts.resolve_classpath(tmp_path / "cache")
    assert not (tmp_path / "cache" / f"kafka-{artifacts.KAFKA_VERSION}").exists()


def test_a_complete_cache_is_used_without_maven(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn
    jars = tmp_path / f"kafka-{artifacts.KAFKA_VERSION}"
    jars.mkdir()
    (jars / ".complete").write_text(artifacts.KAFKA_VERSION)
    assert artifacts.resolve_classpath(tmp_path) == jars


def test_a_failing_maven_is_an_artifact_error_with_its_message(monkeypatch, tmp_path):
    mvn = tmp_path / "mvn"
    mvn.write_text("#!/bin/sh\necho '[ERROR] Could not transfer artifact: Network is unreachable'\nexit 1\n")
    mvn.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(artifacts.ArtifactResolveError, match="Network is unreachable"):
        artifacts.resolve_classpath(tmp_path / "cache")
    assert list((tmp_path / "cache").glob("kafka-*/")) == []  # no half directory left behind


def test_pom_pins_the_version_of_the_compose_file():
    compose = (artifacts.POM.parents[4] / "docker-compose.yml").read_text()
    assert f"apache/kafka:{artifacts.KAFKA_VERSION}" in compose
    assert f"<kafka.version>{artifacts.KAFKA_VERSION}</kafka.version>" in artifacts.POM.read_text()


def _props(brokers: int, tmp_path) -> dict[str, str]:
    node = ApacheNode(1, 9092, 9093, tmp_path / "n.properties", tmp_path / "n.log")
    text = _server_properties(node, "1@127.0.0.1:9093", brokers, tmp_path)
    return dict(line.split("=", 1) for line in text.splitlines())


def test_a_single_node_can_run_transactions_and_a_cluster_replicates(tmp_path):
    one = _props(1, tmp_path)
    assert (one["offsets.topic.replication.factor"], one["transaction.state.log.replication.factor"],
            one["transaction.state.log.min.isr"]) == ("1", "1", "1")
    assert one["group.initial.rebalance.delay.ms"] == "0"
    assert one["process.roles"] == "broker,controller"
    three = _props(3, tmp_path)
    assert (three["offsets.topic.replication.factor"], three["transaction.state.log.replication.factor"],
            three["transaction.state.log.min.isr"], three["min.insync.replicas"]) == ("3", "3", "2", "2")
