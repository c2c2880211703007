"""Apache Kafka's jars from Maven Central, resolved once into a cache directory.

The broker, its tools and a Log4j 2 binding are the dependencies of ``pom.xml`` beside this
file. On first use Maven copies them (``dependency:copy-dependencies``) into
``<cache>/kafka-<version>/``; later runs use that directory without calling Maven at all, so
only the first use needs ``mvn`` and the network. The copy is made in a temporary directory
and renamed into place under a file lock: several test sessions may resolve at once and none
ever sees half a directory.

Why Maven and not a tarball: the project's machines reach package registries (Maven Central)
but not downloads.apache.org, and Maven verifies checksums and caches in ``~/.m2``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from engines.cache import default_cache_dir
from engines.cache import locked as _locked
from pipeline.kafka.errors import KafkaStageError

#: The Apache Kafka release we run; keep equal to docker-compose.yml's apache/kafka image.
KAFKA_VERSION = "4.1.0"
MIN_JAVA = 17
POM = Path(__file__).with_name("pom.xml")
_COMPLETE = ".complete"

Progress = Callable[[str], None]


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
    directory = (cache_dir or default_cache_dir()) / f"kafka-{version}"
    return directory if (directory / _COMPLETE).is_file() else None


def apache_available(cache_dir: Path | None = None) -> None:
    """Raise :class:`ApacheKafkaUnavailableError` naming what is missing, without resolving anything."""
    java_executable()
    if cached_classpath(cache_dir) is None and shutil.which("mvn") is None:
        raise MavenNotFoundError(
            f"Apache Kafka {KAFKA_VERSION} is not cached in {(cache_dir or default_cache_dir())} and 'mvn' is not "
            "on PATH to fetch it from Maven Central (Debian: apt-get install -y maven)")


def resolve_classpath(cache_dir: Path | None = None, *, progress: Progress | None = None,
                      maven_repo: Path | None = None, timeout_s: float = 900.0) -> Path:
    """Directory holding every jar of Apache Kafka ``KAFKA_VERSION``; resolves it with Maven on first use.

    ``progress`` gets one line per downloaded jar (from Maven's own "Downloaded from ..." lines;
    Maven's plugins included) so a slow first run is visibly alive. ``maven_repo`` overrides ``~/.m2/repository``
    (used to time a cold resolve).
    """
    cache = cache_dir or default_cache_dir()
    found = cached_classpath(cache)
    if found is not None:
        return found
    target = cache / f"kafka-{KAFKA_VERSION}"
    with _locked(cache / f"kafka-{KAFKA_VERSION}.lock"):
        found = cached_classpath(cache)  # another process may have finished while we waited
        if found is not None:
            return found
        mvn = shutil.which("mvn")
        if mvn is None:
            raise MavenNotFoundError(
                f"Apache Kafka {KAFKA_VERSION} is not cached in {target} and 'mvn' is not on PATH to fetch it "
                "from Maven Central (Debian: apt-get install -y maven)")
        if progress:
            progress(f"resolving Apache Kafka {KAFKA_VERSION} from Maven Central into {target} (first use, ~45 MB)")
        staging = Path(tempfile.mkdtemp(prefix=f".kafka-{KAFKA_VERSION}-", dir=cache))
        try:
            _copy_dependencies(mvn, staging, progress, maven_repo, timeout_s)
            (staging / _COMPLETE).write_text(KAFKA_VERSION + "\n")
            if target.exists():  # an incomplete leftover of an interrupted run
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    if progress:
        progress(f"Apache Kafka {KAFKA_VERSION}: {sum(1 for _ in target.glob('*.jar'))} jars ready")
    return target


def _copy_dependencies(mvn: str, out: Path, progress: Progress | None, maven_repo: Path | None,
                       timeout_s: float) -> None:
    command = [mvn, "-B", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={out}",
               "-DincludeScope=runtime", f"-Dkafka.version={KAFKA_VERSION}"]
    if maven_repo is not None:
        command.append(f"-Dmaven.repo.local={maven_repo}")
    lines: list[str] = []
    try:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise MavenNotFoundError(f"cannot run {mvn}: {exc}") from exc
    assert process.stdout is not None
    downloaded = 0
    for line in process.stdout:
        lines.append(line.rstrip())
        # "[INFO] Downloaded from central: https://.../kafka_2.13-4.1.0.jar (6.5 MB at 3.1 MB/s)"
        url = re.search(r"Downloaded from \S+ (\S+\.jar)\b", line)
        if progress and url:
            downloaded += 1
            progress(f"  [{downloaded}] {url.group(1).rsplit('/', 1)[-1]}")
    try:
        code = process.wait(timeout_s)
    except subprocess.TimeoutExpired as exc:
        process.kill()
        raise ArtifactResolveError(f"Maven did not finish resolving Apache Kafka within {timeout_s:.0f}s") from exc
    if code != 0:
        errors = [ln for ln in lines if "[ERROR]" in ln][:8] or lines[-8:]
        raise ArtifactResolveError(
            f"Maven could not resolve Apache Kafka {KAFKA_VERSION} from Maven Central (is it reachable?):\n"
            + "\n".join(errors))
    if not any(out.glob("kafka_2.13-*.jar")):
        raise ArtifactResolveError(f"Maven finished but {out} holds no kafka_2.13 jar")
