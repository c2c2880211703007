"""Apache Kafka's jars from Maven Central, resolved once into ``<cache>/kafka-<version>/``.

The broker, its tools and a Log4j 2 binding are the dependencies of ``pom.xml`` beside this file,
copied by Maven's ``dependency:copy-dependencies`` (the staged, locked build of
:mod:`pipeline.devtools.maven`). Why Maven and not a tarball: the project's machines reach
package registries (Maven Central) but not downloads.apache.org.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from engines.cache import default_cache_dir
from pipeline.devtools.maven import Progress, build_once, cached, downloaded_jar, run_maven
from pipeline.kafka.errors import KafkaStageError

#: The Apache Kafka release we run; keep equal to docker-compose.yml's apache/kafka image.
KAFKA_VERSION = "4.1.0"
MIN_JAVA = 17
POM = Path(__file__).with_name("pom.xml")


class ApacheKafkaUnavailableError(KafkaStageError):
    """Apache Kafka cannot run here: Java or Maven is missing, or the artifacts did not resolve."""


class JavaNotFoundError(ApacheKafkaUnavailableError):
    """No ``java`` (17 or newer) on PATH."""


class MavenNotFoundError(ApacheKafkaUnavailableError):
    """No ``mvn`` on PATH, and the Kafka jars are not cached yet."""


class ArtifactResolveError(ApacheKafkaUnavailableError):
    """Maven ran but could not fetch the Kafka artifacts (offline, no Maven Central, bad proxy)."""


def java_executable(needed_by: str = "Apache Kafka") -> str:
    """Path of ``java`` on PATH, checked to be version 17 or newer (``needed_by`` names who asks, in errors)."""
    java = shutil.which("java")
    if java is None:
        raise JavaNotFoundError(
            f"{needed_by} needs Java {MIN_JAVA}+ but 'java' is not on PATH "
            "(Debian: apt-get install -y openjdk-17-jre-headless)")
    try:
        shown = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise JavaNotFoundError(f"cannot run {java} -version: {exc}") from exc
    match = re.search(r'version "(\d+)(?:\.(\d+))?', shown.stderr + shown.stdout)
    if match is None:
        raise JavaNotFoundError(f"cannot tell the version of {java}: {shown.stderr.strip()[:200]}")
    major = int(match.group(1)) if match.group(1) != "1" else int(match.group(2) or 0)
    if major < MIN_JAVA:
        raise JavaNotFoundError(f"{needed_by} needs Java {MIN_JAVA}+, {java} is Java {major}")
    return java


def cached_classpath(cache_dir: Path | None = None, version: str = KAFKA_VERSION) -> Path | None:
    """The jar directory if it was fully resolved before, else None (never calls Maven)."""
    return cached(cache_dir or default_cache_dir(), f"kafka-{version}")


def apache_available(cache_dir: Path | None = None) -> None:
    """Raise :class:`ApacheKafkaUnavailableError` naming what is missing, without resolving anything."""
    java_executable()
    if cached_classpath(cache_dir) is None and shutil.which("mvn") is None:
        raise _no_maven(cache_dir or default_cache_dir())


def _no_maven(where: Path) -> MavenNotFoundError:
    return MavenNotFoundError(f"Apache Kafka {KAFKA_VERSION} is not cached in {where} and 'mvn' is not on PATH to "
                              "fetch it from Maven Central (Debian: apt-get install -y maven)")


def resolve_classpath(cache_dir: Path | None = None, *, progress: Progress | None = None,
                      maven_repo: Path | None = None, timeout_s: float = 900.0) -> Path:
    """Directory holding every jar of Apache Kafka ``KAFKA_VERSION``; resolves it with Maven on first use.

    ``progress`` gets one line per downloaded jar (from Maven's own "Downloaded from ..." lines;
    Maven's plugins included) so a slow first run is visibly alive. ``maven_repo`` overrides ``~/.m2/repository``
    (used to time a cold resolve).
    """
    def build(mvn: str, _work: Path, out: Path) -> None:
        if progress:
            progress(f"resolving Apache Kafka {KAFKA_VERSION} from Maven Central into {target} (first use, ~45 MB)")
        _copy_dependencies(mvn, out, progress, maven_repo, timeout_s)
        if progress:
            progress(f"Apache Kafka {KAFKA_VERSION}: {sum(1 for _ in out.glob('*.jar'))} jars ready")

    target = (cache_dir or default_cache_dir()) / f"kafka-{KAFKA_VERSION}"
    return build_once(target.parent, target.name, KAFKA_VERSION, build, _no_maven)


def _copy_dependencies(mvn: str, out: Path, progress: Progress | None, maven_repo: Path | None,
                       timeout_s: float) -> None:
    command = [mvn, "-B", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={out}",
               "-DincludeScope=runtime", f"-Dkafka.version={KAFKA_VERSION}"]
    downloaded = 0

    def on_line(line: str) -> None:
        nonlocal downloaded
        url = downloaded_jar(line)
        if progress and url:
            downloaded += 1
            progress(f"  [{downloaded}] {url.rsplit('/', 1)[-1]}")

    run_maven(command, maven_repo=maven_repo, cwd=None, on_line=on_line, timeout_s=timeout_s,
              cannot_run=MavenNotFoundError, failed=ArtifactResolveError, doing="resolving Apache Kafka",
              what=f"resolve Apache Kafka {KAFKA_VERSION}")
    if not any(out.glob("kafka_2.13-*.jar")):
        raise ArtifactResolveError(f"Maven finished but {out} holds no kafka_2.13 jar")
