"""Apicurio Registry as one runnable jar, built once from Maven Central artifacts into a cache.

Confluent's Schema Registry is not on Maven Central; Apicurio Registry 2.4.2.Final is, and it
serves the same REST API under ``/apis/ccompat/v7``. It ships no runnable artifact there, so
the small Quarkus project in ``apicurio/`` is built with ``mvn package`` into
``<cache>/apicurio-<version>/apicurio-registry-runner.jar`` (the staged, locked build of
:mod:`pipeline.devtools.maven`; the Java check is Apache Kafka's).

Measured on the 2-core development VM: cold (empty ``~/.m2``, ~1,400 artifacts, ~210 MB) 49 s
on a quiet machine and 218 s at a load average of 15; with the Maven repository warm 80-100 s
(Quarkus's build step); with the jar cached, nothing to do. The jar is 136 MB.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from engines.cache import default_cache_dir
from pipeline.devtools.brokers.apache.artifacts import JavaNotFoundError, java_executable
from pipeline.devtools.maven import Progress, build_once, cached, downloaded_jar, run_maven
from pipeline.kafka.errors import KafkaStageError

APICURIO_VERSION = "2.4.2.Final"
PROJECT = Path(__file__).with_name("apicurio")
JAR_NAME = "apicurio-registry-runner.jar"
_CACHE_NAME = f"apicurio-{APICURIO_VERSION.removesuffix('.Final')}"


class SchemaRegistryUnavailableError(KafkaStageError):
    """The Schema Registry cannot run here: no Java 17+, no Maven (and no cached jar), or the build failed."""


def java_for_registry() -> str:
    """``java`` 17+ on PATH, or :class:`SchemaRegistryUnavailableError` naming what is missing."""
    try:
        return java_executable(needed_by="Apicurio Registry (the Schema Registry)")
    except JavaNotFoundError as exc:
        raise SchemaRegistryUnavailableError(str(exc)) from exc


def cached_jar(cache_dir: Path | None = None) -> Path | None:
    """The runnable jar if it was fully built before, else None (never calls Maven)."""
    directory = cached(cache_dir or default_cache_dir(), _CACHE_NAME)
    return directory / JAR_NAME if directory is not None else None


def registry_available(cache_dir: Path | None = None) -> None:
    """Raise :class:`SchemaRegistryUnavailableError` naming what is missing, without building anything."""
    java_for_registry()
    if cached_jar(cache_dir) is None and shutil.which("mvn") is None:
        raise _no_maven(cache_dir or default_cache_dir())


def _no_maven(where: Path) -> SchemaRegistryUnavailableError:
    return SchemaRegistryUnavailableError(
        f"Apicurio Registry {APICURIO_VERSION} is not built in {where} and 'mvn' is not on PATH to build it from "
        "Maven Central (Debian: apt-get install -y maven)")


def build_jar(cache_dir: Path | None = None, *, progress: Progress | None = None,
              maven_repo: Path | None = None, timeout_s: float = 1200.0) -> Path:
    """Path of the runnable registry jar; builds it with Maven on first use (progress lines to ``progress``).

    ``maven_repo`` overrides ``~/.m2/repository`` (used to time a cold build).
    """
    def build(mvn: str, work: Path, out: Path) -> None:
        if progress:
            progress(f"building Apicurio Registry {APICURIO_VERSION} from Maven Central into {target} "
                     "(first use: ~200 MB of artifacts, about a minute)")
        project = work / "project"
        shutil.copytree(PROJECT, project)
        _maven_package(mvn, project, progress, maven_repo, timeout_s).rename(out / JAR_NAME)
        if progress:
            progress(f"Apicurio Registry {APICURIO_VERSION}: {target / JAR_NAME} ready")

    target = (cache_dir or default_cache_dir()) / _CACHE_NAME
    return build_once(target.parent, _CACHE_NAME, APICURIO_VERSION, build, _no_maven) / JAR_NAME


def _maven_package(mvn: str, project: Path, progress: Progress | None, maven_repo: Path | None,
                   timeout_s: float) -> Path:
    command = [mvn, "-B", "-s", str(project / "settings.xml"), "-f", str(project / "pom.xml"), "package",
               "-DskipTests", f"-Dapicurio.version={APICURIO_VERSION}"]
    downloaded = 0

    def on_line(line: str) -> None:
        nonlocal downloaded
        if downloaded_jar(line):
            downloaded += 1
            if progress and downloaded % 100 == 0:  # ~1,400 on a cold repository: a line a few seconds
                progress(f"  {downloaded} jars downloaded")
        elif progress and "Building uber jar" in line:
            progress(f"  {downloaded} jars downloaded; Quarkus is building the registry jar")

    run_maven(command, maven_repo=maven_repo, cwd=project, on_line=on_line, timeout_s=timeout_s,
              cannot_run=SchemaRegistryUnavailableError, failed=SchemaRegistryUnavailableError,
              doing="building Apicurio Registry", what=f"build Apicurio Registry {APICURIO_VERSION}")
    jars = sorted((project / "target").glob("*-runner.jar"))
    if not jars:
        raise SchemaRegistryUnavailableError(f"Maven finished but {project / 'target'} holds no *-runner.jar")
    return jars[0]
