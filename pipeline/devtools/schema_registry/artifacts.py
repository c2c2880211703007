"""Apicurio Registry as one runnable jar, built once from Maven Central artifacts into a cache.

Confluent's Schema Registry is not on Maven Central; Apicurio Registry 2.4.2.Final is, and it
serves the same REST API under ``/apis/ccompat/v7``. It ships no runnable artifact there, so
the small Quarkus project in ``apicurio/`` (a pom depending on ``apicurio-registry-app`` and an
``application.properties``) is built with ``mvn package`` (quarkus-maven-plugin goal ``build``)
into ``<cache>/apicurio-<version>/apicurio-registry-runner.jar``. Later runs use that jar without
Maven. The build runs in a staging directory renamed into place under a file lock, as for Apache
Kafka (:mod:`pipeline.devtools.brokers.apache.artifacts`, whose Java check, cache directory and lock this
reuses): concurrent test sessions never see half a build.

Measured on the 2-core development VM: cold (empty ``~/.m2``, ~1,400 artifacts, ~210 MB) 49 s
on a quiet machine and 218 s at a load average of 15; with the Maven repository warm 80-100 s
(Quarkus's build step); with the jar cached, nothing to do. The jar is 136 MB.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from engines.cache import default_cache_dir
from engines.cache import locked as _locked
from pipeline.devtools.brokers.apache.artifacts import JavaNotFoundError, Progress, java_executable
from pipeline.kafka.errors import KafkaStageError

APICURIO_VERSION = "2.4.2.Final"
PROJECT = Path(__file__).with_name("apicurio")
JAR_NAME = "apicurio-registry-runner.jar"
_COMPLETE = ".complete"
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
    directory = (cache_dir or default_cache_dir()) / _CACHE_NAME
    return directory / JAR_NAME if (directory / _COMPLETE).is_file() else None


def registry_available(cache_dir: Path | None = None) -> None:
    """Raise :class:`SchemaRegistryUnavailableError` naming what is missing, without building anything."""
    java_for_registry()
    if cached_jar(cache_dir) is None and shutil.which("mvn") is None:
        raise SchemaRegistryUnavailableError(
            f"Apicurio Registry {APICURIO_VERSION} is not built in {cache_dir or default_cache_dir()} and 'mvn' "
            "is not on PATH to build it from Maven Central (Debian: apt-get install -y maven)")


def build_jar(cache_dir: Path | None = None, *, progress: Progress | None = None,
              maven_repo: Path | None = None, timeout_s: float = 1200.0) -> Path:
    """Path of the runnable registry jar; builds it with Maven on first use (progress lines to ``progress``).

    ``maven_repo`` overrides ``~/.m2/repository`` (used to time a cold build).
    """
    cache = cache_dir or default_cache_dir()
    found = cached_jar(cache)
    if found is not None:
        return found
    target = cache / _CACHE_NAME
    with _locked(cache / f"{_CACHE_NAME}.lock"):
        found = cached_jar(cache)  # another process may have finished while we waited
        if found is not None:
            return found
        mvn = shutil.which("mvn")
        if mvn is None:
            raise SchemaRegistryUnavailableError(
                f"Apicurio Registry {APICURIO_VERSION} is not built in {target} and 'mvn' is not on PATH to build it "
                "from Maven Central (Debian: apt-get install -y maven)")
        if progress:
            progress(f"building Apicurio Registry {APICURIO_VERSION} from Maven Central into {target} "
                     "(first use: ~200 MB of artifacts, about a minute)")
        staging = Path(tempfile.mkdtemp(prefix=f".{_CACHE_NAME}-", dir=cache))
        try:
            project = staging / "project"
            shutil.copytree(PROJECT, project)
            jar = _maven_package(mvn, project, progress, maven_repo, timeout_s)
            out = staging / "out"
            out.mkdir()
            jar.rename(out / JAR_NAME)
            (out / _COMPLETE).write_text(APICURIO_VERSION + "\n")
            if target.exists():  # an incomplete leftover of an interrupted run
                shutil.rmtree(target)
            out.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if progress:
        progress(f"Apicurio Registry {APICURIO_VERSION}: {target / JAR_NAME} ready")
    return target / JAR_NAME


def _maven_package(mvn: str, project: Path, progress: Progress | None, maven_repo: Path | None,
                   timeout_s: float) -> Path:
    command = [mvn, "-B", "-s", str(project / "settings.xml"), "-f", str(project / "pom.xml"), "package",
               "-DskipTests", f"-Dapicurio.version={APICURIO_VERSION}"]
    if maven_repo is not None:
        command.append(f"-Dmaven.repo.local={maven_repo}")
    lines: list[str] = []
    try:
        process = subprocess.Popen(command, cwd=project, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise SchemaRegistryUnavailableError(f"cannot run {mvn}: {exc}") from exc
    assert process.stdout is not None
    downloaded = 0
    for line in process.stdout:
        lines.append(line.rstrip())
        if re.search(r"Downloaded from \S+ \S+\.jar\b", line):
            downloaded += 1
            if progress and downloaded % 100 == 0:  # ~1,400 on a cold repository: a line a few seconds
                progress(f"  {downloaded} jars downloaded")
        elif progress and "Building uber jar" in line:
            progress(f"  {downloaded} jars downloaded; Quarkus is building the registry jar")
    try:
        code = process.wait(timeout_s)
    except subprocess.TimeoutExpired as exc:
        process.kill()
        raise SchemaRegistryUnavailableError(
            f"Maven did not finish building Apicurio Registry within {timeout_s:.0f}s") from exc
    if code != 0:
        errors = [ln for ln in lines if "[ERROR]" in ln][:8] or lines[-8:]
        raise SchemaRegistryUnavailableError(
            f"Maven could not build Apicurio Registry {APICURIO_VERSION} from Maven Central (is it reachable?):\n"
            + "\n".join(errors))
    jars = sorted((project / "target").glob("*-runner.jar"))
    if not jars:
        raise SchemaRegistryUnavailableError(f"Maven finished but {project / 'target'} holds no *-runner.jar")
    return jars[0]
