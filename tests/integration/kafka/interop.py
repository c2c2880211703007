"""Builds and runs the Node.js and Java clients in ``tests/interop/`` for the interop tests.

Each client is built once per session into a git-ignored folder beside its sources:
``npm ci`` (package-lock.json) into ``tests/interop/node/node_modules``; for Java, Maven's
``dependency:copy-dependencies`` into ``tests/interop/java/target/dependency`` and then ``javac``
(on a cold Maven cache this downloads one plugin instead of the compiler, resources, surefire and
jar plugins that ``mvn package`` needs). A build is skipped when its inputs are older than its
output. A missing runtime skips the tests with the reason, except under ``CI=true``, where it fails
them: CI must never pass by not running them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.integration.kafka.kafka_io import ROOT
from tests.integration.requires import skip_or_fail

INTEROP = ROOT / "tests" / "interop"
NODE_DIR = INTEROP / "node"
JAVA_DIR = INTEROP / "java"
SCHEMAS = ROOT / "schemas" / "avro"
BUILD_TIMEOUT_S = 600


def require_tools(*tools: str) -> None:
    """Skip (locally) or fail (CI=true) when a tool the client needs is not on PATH."""
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    reason = f"{', '.join(missing)} not on PATH (install Node 20 + npm and Java 17 + Maven; see scripts/setup.sh)"
    skip_or_fail(reason)


def _newest_mtime(paths: list[Path]) -> float:
    return max(p.stat().st_mtime for p in paths)


def _build(cmd: list[str], cwd: Path, what: str) -> float:
    started = time.monotonic()
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                         stdin=subprocess.DEVNULL)
    if out.returncode != 0:
        raise AssertionError(f"{what} failed ({' '.join(cmd)}):\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return time.monotonic() - started


def build_node() -> Path:
    require_tools("node", "npm")
    marker = NODE_DIR / "node_modules" / ".package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < _newest_mtime([NODE_DIR / "package-lock.json"]):
        _build(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], NODE_DIR, "npm ci")
    return NODE_DIR


def build_java() -> Path:
    require_tools("java", "javac", "mvn")
    classes = JAVA_DIR / "target" / "classes"
    sources = sorted((JAVA_DIR / "src" / "main" / "java").rglob("*.java"))
    stamp = classes / ".built"
    if not stamp.exists() or stamp.stat().st_mtime < _newest_mtime([JAVA_DIR / "pom.xml", *sources]):
        shutil.rmtree(JAVA_DIR / "target", ignore_errors=True)  # no jars of an older pom left behind
        _build(["mvn", "-q", "-B", "dependency:copy-dependencies", "-DincludeScope=runtime"], JAVA_DIR,
               "Maven dependency download")
        _build(["javac", "-d", str(classes), "-cp", str(JAVA_DIR / "target" / "dependency" / "*"),
                "--release", "17", *map(str, sources)], JAVA_DIR, "javac")
        stamp.touch()
    return JAVA_DIR


@dataclass
class Client:
    """A running client process; ``result()`` waits and returns the JSON line it printed."""

    what: str
    process: subprocess.Popen

    def result(self, timeout: float) -> dict:
        try:
            stdout, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            stdout, stderr = self.process.communicate()
            raise AssertionError(f"{self.what} ran past {timeout:.0f}s:\n{stderr[-3000:]}") from None
        assert self.process.returncode == 0, f"{self.what} exited {self.process.returncode}:\n{stderr[-3000:]}"
        return json.loads(stdout.strip().splitlines()[-1])


def _start(what: str, cmd: list[str], cwd: Path) -> Client:
    return Client(what, subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, text=True))


def node(script: str, **args: object) -> Client:
    flags = [x for name, value in args.items() for x in (f"--{name}", str(value))]
    return _start(f"node {script}", ["node", script, *flags], NODE_DIR)


def java(main_class: str, *args: object) -> Client:
    classpath = os.pathsep.join([str(JAVA_DIR / "target" / "classes"), str(JAVA_DIR / "target" / "dependency" / "*")])
    return _start(f"java {main_class}", ["java", "-cp", classpath, f"nerstage.interop.{main_class}",
                                         *map(str, args)], JAVA_DIR)
