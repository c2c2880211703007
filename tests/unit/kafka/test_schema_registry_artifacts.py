"""Apicurio Registry preparation without Java or Maven Central: typed errors for what is missing,
the cache short-circuit, one build for concurrent callers, and the build facts in the project files."""

from __future__ import annotations

import threading

import pytest

from pipeline.devtools.schema_registry import artifacts


def _fake_mvn(directory, body: str) -> None:
    path = directory / "mvn"
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def test_missing_java_is_a_registry_error_naming_java(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(artifacts.SchemaRegistryUnavailableError, match="'java' is not on PATH"):
        artifacts.registry_available(tmp_path)


def test_missing_maven_with_an_empty_cache_names_mvn_and_leaves_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(artifacts.SchemaRegistryUnavailableError, match="'mvn' is not on PATH"):
        artifacts.build_jar(tmp_path / "cache")
    assert artifacts.cached_jar(tmp_path / "cache") is None


def test_a_complete_cache_is_used_without_maven(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no mvn
    built = tmp_path / artifacts._CACHE_NAME
    built.mkdir()
    (built / artifacts.JAR_NAME).write_bytes(b"jar")
    (built / ".complete").write_text(artifacts.APICURIO_VERSION)
    assert artifacts.build_jar(tmp_path) == built / artifacts.JAR_NAME


def test_a_failing_maven_is_a_typed_error_with_its_message_and_no_half_cache(monkeypatch, tmp_path):
    _fake_mvn(tmp_path, "echo '[ERROR] Could not transfer artifact: Network is unreachable'\nexit 1\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(artifacts.SchemaRegistryUnavailableError, match="Network is unreachable"):
        artifacts.build_jar(tmp_path / "cache")
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f"{artifacts._CACHE_NAME}.lock"]


def test_concurrent_callers_build_once(monkeypatch, tmp_path):
    calls = tmp_path / "calls"
    _fake_mvn(tmp_path, f"""echo run >> {calls}
while [ $# -gt 0 ]; do [ "$1" = "-f" ] && pom="$2"; shift; done
mkdir -p "${{pom%/*}}/target" && sleep 0.3 && echo jar > "${{pom%/*}}/target/x-1-runner.jar"
""")
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")  # the fake mvn first; mkdir and sleep for it
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(artifacts.build_jar(tmp_path / "cache")))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert calls.read_text().count("run") == 1
    assert len(results) == 3 and len(set(results)) == 1 and results[0].read_text() == "jar\n"


def test_the_project_carries_the_three_build_facts():
    """DESIGN.md, "Facts for a real Schema Registry without Docker": without any of these the build fails."""
    pom = (artifacts.PROJECT / "pom.xml").read_text()
    assert "<artifactId>org.everit.json.schema</artifactId>" in pom  # (1) excluded (JitPack only)...
    assert "<groupId>com.github.erosb</groupId>" in pom and "<version>1.14.2</version>" in pom  # ...from Central
    assert "apicurio-common-app-components-config-index</artifactId>\n        <version>0.1.10.Final" in pom  # (2)
    props = (artifacts.PROJECT / "src/main/resources/application.properties").read_text()
    assert "quarkus.index-dependency.registry-app.artifact-id=apicurio-registry-app" in props  # (3)
    assert "<mirrorOf>*</mirrorOf>" in (artifacts.PROJECT / "settings.xml").read_text()
    assert f"<apicurio.version>{artifacts.APICURIO_VERSION}</apicurio.version>" in pom
