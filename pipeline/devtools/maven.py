"""Java artifacts built once with Maven into a cache directory (the Apache Kafka jars, the
Apicurio Registry jar): the steps both share.

A build runs in a staging directory renamed into place under a file lock, with a ``.complete``
marker: several test sessions may build at once and none ever sees half a directory. Only the
first use needs ``mvn`` and the network (Maven Central; it verifies checksums and caches in
``~/.m2``); later runs use the cache without calling Maven.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from engines.cache import locked

COMPLETE = ".complete"

Progress = Callable[[str], None]


def cached(cache: Path, name: str) -> Path | None:
    """``<cache>/<name>`` if a build finished there, else None (never calls Maven)."""
    directory = cache / name
    return directory if (directory / COMPLETE).is_file() else None


def build_once(cache: Path, name: str, version: str, build: Callable[[str, Path, Path], None],
               no_maven: Callable[[Path], Exception]) -> Path:
    """``<cache>/<name>``, built on first use: ``build(mvn, work, out)`` fills ``out`` (``work`` is
    a scratch directory beside it); raises ``no_maven(target)`` when ``mvn`` is not on PATH."""
    found = cached(cache, name)
    if found is not None:
        return found
    target = cache / name
    with locked(cache / f"{name}.lock"):
        found = cached(cache, name)  # another process may have finished while we waited
        if found is not None:
            return found
        mvn = shutil.which("mvn")
        if mvn is None:
            raise no_maven(target)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cache))
        try:
            out = staging / "out"
            out.mkdir()
            build(mvn, staging, out)
            (out / COMPLETE).write_text(version + "\n")
            if target.exists():  # an incomplete leftover of an interrupted run
                shutil.rmtree(target)
            out.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def run_maven(command: list[str], *, maven_repo: Path | None, cwd: Path | None, on_line: Callable[[str], None],
              timeout_s: float, cannot_run: type[Exception], failed: type[Exception], doing: str, what: str) -> None:
    """Run Maven, each output line to ``on_line``; a typed error with Maven's own ``[ERROR]`` lines
    when it fails (``doing``/``what`` name the work in messages: "resolving Apache Kafka").
    ``maven_repo`` overrides ``~/.m2/repository`` (used to time a cold build)."""
    if maven_repo is not None:
        command = [*command, f"-Dmaven.repo.local={maven_repo}"]
    lines: list[str] = []
    try:
        process = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        raise cannot_run(f"cannot run {command[0]}: {exc}") from exc
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip())
        on_line(line)
    try:
        code = process.wait(timeout_s)
    except subprocess.TimeoutExpired as exc:
        process.kill()
        raise failed(f"Maven did not finish {doing} within {timeout_s:.0f}s") from exc
    if code != 0:
        errors = [ln for ln in lines if "[ERROR]" in ln][:8] or lines[-8:]
        raise failed(f"Maven could not {what} from Maven Central (is it reachable?):\n" + "\n".join(errors))


def downloaded_jar(line: str) -> str | None:
    """The jar's URL in Maven's "Downloaded from central: https://.../x.jar (6.5 MB at ...)" line."""
    match = re.search(r"Downloaded from \S+ (\S+\.jar)\b", line)
    return match.group(1) if match else None


def prepare_main(label: str, steps: Callable[[Progress], Path], unavailable: type[Exception]) -> int:
    """A ``python -m`` entry point that builds now (setup scripts, CI): ``steps`` with progress on
    stderr, then the built path on stdout; status 2 and one line naming what is missing (java,
    mvn, Maven Central) when ``unavailable`` is raised."""
    started = time.monotonic()
    try:
        path = steps(lambda line: print(line, file=sys.stderr, flush=True))
    except unavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{label} ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
    print(path)
    return 0
