"""Every shell command in README.md, docs/OPERATIONS.md and docs/KAFKA_CONTRACTS.md is either run
here as written, against the real thing, with its shown output checked, or marked with the reason
it cannot run in CI (``NOT_RUN``). A command added to the docs fails the first test until it is
one or the other.

Shown output is the ``# ...`` comment lines right below a command (continuation lines joined);
``...`` in it stands for anything. One ``serve`` (started as the README starts it) answers every
``curl`` line; a local receiver stands in for the async example's callback URL.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from pipeline.devtools.processes import free_port
from tests.integration.requires import skip_or_fail

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/OPERATIONS.md", "docs/KAFKA_CONTRACTS.md")
BIN = str(Path(sys.executable).parent)
FENCE = re.compile(r"^```(?:bash|sh|shell|console)\n(.*?)^```", re.S | re.M)
PYTHON = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

#: command prefix -> why it does not run here (checked where said, or by hand)
NOT_RUN = {
    "bash scripts/run.sh": "builds its own environment from PyPI (minutes); tried by hand on a fresh clone",
    "bash scripts/test.sh": "is CI itself",
    ".venv/bin/ner-stage broker": "a long-running broker: tests/integration/test_broker_command.py runs it",
    "docker compose": "needs a Docker daemon and image builds (not in CI)",
    "ner-stage bench": "a benchmark (minutes): run by hand, results in docs",
    ".venv/bin/python -m deploy.validate": "tests/unit/deploy runs the same checks",
    ".venv/bin/pytest": "a test run itself",
    ".venv/bin/ner-stage worker --bootstrap HOST:PORT": "a long-running worker on your own cluster: "
    "tests/integration/kafka/test_worker_records.py runs these flags on Apache Kafka",
    "P=User:ner-stage": "variables for the kafka-acls.sh lines below",
    "kafka-acls.sh": "needs a secured cluster's admin tools: tests/integration/kafka/test_secured_cluster.py grants "
    "the same ACLs (from pipeline/kafka/acls.py, which these lines are written from) on Apache Kafka",
    "NER_HASH_KEY=docs-example-key ner-stage redact --file tickets.jsonl":
    "tests/integration/test_contract_examples.py runs it on the example's input and checks the shown output",
    "ner-stage redact --file tickets.jsonl": "tests/integration/test_contract_examples.py runs it on the example's "
    "input and checks the shown output",
}
#: commands run below, by the test that runs them
RUN_CLI = ('.venv/bin/ner-stage predict "My name is John Smith', ".venv/bin/ner-stage --help",
           '.venv/bin/ner-stage redact "Call Maria Garcia')
SERVE = "NER_HASH_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))') NER_CALLBACK_SECRET=change-me"
#: the README's Kafka block, run in order on the tests' Apache Kafka (for 127.0.0.1:40123)
KAFKA = (".venv/bin/ner-stage topics", ".venv/bin/ner-stage produce", "printf ")
DEFAULT_TOPICS = ["documents", "entities", "redacted", "dead-letters"]


def commands(text: str) -> list[tuple[str, str | None]]:
    """(command, shown output or None) for every command line of every shell block."""
    out: list[tuple[str, str | None]] = []
    for block in FENCE.findall(text):
        lines = block.replace("\\\n", " ").splitlines()
        for line in lines:
            if line.startswith("#"):
                if out:
                    shown = line[1:].strip()
                    out[-1] = (out[-1][0], shown if out[-1][1] is None else out[-1][1] + shown)
            elif line.strip():
                out.append((re.sub(r"\s+#\s.*$", "", line).strip(), None))
    return out


ALL = [(doc, cmd, shown) for doc in DOCS for cmd, shown in commands((ROOT / doc).read_text(encoding="utf-8"))]


def python_blocks(text: str) -> list[tuple[str, str | None]]:
    """(code, shown) per README Python block; a block ending in ``# ...`` lines shows what its
    last expression evaluates to, so that expression is printed."""
    out = []
    for block in PYTHON.findall(text):
        lines = block.rstrip("\n").splitlines()
        shown_lines = []
        while lines and lines[-1].startswith("#"):
            shown_lines.insert(0, lines.pop()[1:].strip())
        if shown_lines:
            last = re.sub(r"\s+#\s.*$", "", lines.pop())
            lines.append(f"print({last})")
        out.append(("\n".join(lines), "".join(shown_lines) or None))
    return out


def matches(shown: str, output: str) -> bool:
    """``shown`` with ``...`` as a wildcard; whitespace is ignored (shown output is wrapped)."""
    pattern = ".*?".join(re.escape(re.sub(r"\s+", "", part)) for part in shown.split("..."))
    return re.fullmatch(pattern, re.sub(r"\s+", "", output), re.S) is not None


def test_every_documented_command_is_run_or_says_why_not():
    assert len(ALL) >= 15
    for doc, cmd, _ in ALL:
        run_here = cmd.startswith((SERVE, "curl ", *RUN_CLI, *KAFKA))
        assert run_here or any(cmd.startswith(prefix) for prefix in NOT_RUN), (
            f"{doc}: {cmd!r} is neither run by {Path(__file__).name} nor listed in NOT_RUN with a reason")


def _bash(cmd: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", cmd], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NER_")}
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    env["NER_JOBS_DB"] = str(tmp_path_factory.mktemp("docs") / "jobs.sqlite3")  # not in the checkout
    env["NER_THREADS"] = "1"
    return env


def test_cli_examples_print_what_the_readme_shows(env):
    for doc, cmd, shown in ALL:
        if not cmd.startswith(RUN_CLI):
            continue
        result = _bash(cmd, env)
        assert result.returncode == 0, (cmd, result.stderr[-2000:])
        if cmd.startswith('.venv/bin/ner-stage redact "Call Maria Garcia'):
            continue  # its shown output is checked by the redaction golden test (issue 22)
        if shown is not None:
            assert matches(shown, result.stdout), f"{doc}: {cmd}\nshown:  {shown}\ngot:    {result.stdout[:600]}"


class _Receiver(http.server.BaseHTTPRequestHandler):
    got: list[dict] = []

    def do_POST(self) -> None:  # the stdlib handler calls it by this name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.got.append({"headers": dict(self.headers), "body": body})
        self.send_response(204)
        self.end_headers()

    def log_message(self, format, *args) -> None:
        return


def test_http_examples_answer_what_the_readme_shows_and_are_timed_under_their_routes(env):
    if shutil.which("curl") is None:
        skip_or_fail("the README's HTTP examples use curl, which is not on PATH")
    (serve,) = [cmd for _, cmd, _ in ALL if cmd.startswith(SERVE)]
    port, hook_port = free_port(), free_port()
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", hook_port), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    proc = subprocess.Popen(["bash", "-c", serve.replace("--port 8080", f"--port {port}")], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "serve did not become ready"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        curls = [(doc, cmd, shown) for doc, cmd, shown in ALL if cmd.startswith("curl ")]
        assert len(curls) >= 5
        for doc, cmd, shown in curls:
            line = cmd.replace("localhost:8080", f"127.0.0.1:{port}")
            line = line.replace("127.0.0.1:9000", f"127.0.0.1:{hook_port}")
            result = _bash(line, env, timeout=60)
            assert result.returncode == 0 and result.stdout, (cmd, result.stderr)
            if shown is not None:
                assert matches(shown, result.stdout), f"{doc}: {cmd}\nshown:  {shown}\ngot:    {result.stdout[:600]}"
        deadline = time.monotonic() + 60
        while not _Receiver.got:  # the async example's result reached "your" receiver, signed
            assert time.monotonic() < deadline, "no callback"
            time.sleep(0.2)
        assert _Receiver.got[0]["headers"]["X-Ner-Signature"].startswith("t=")
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        for route in ("/predict_tokens", "/async/predict_tokens", "/redact", "/"):  # curl -d: a form content type
            assert f'route="{route}",status="200"' in metrics or f'route="{route}",status="202"' in metrics, route
        assert 'route="unmatched"' not in metrics
        for code, shown in python_blocks((ROOT / "README.md").read_text(encoding="utf-8")):
            result = subprocess.run([sys.executable, "-c", code.replace("127.0.0.1:8080", f"127.0.0.1:{port}")],
                                    cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
            assert result.returncode == 0, (code, result.stderr[-2000:])
            if shown is not None:
                assert matches(shown, result.stdout), f"README.md:\n{code}\nshown: {shown}\ngot: {result.stdout[:600]}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # bash and the server it started
        proc.wait(30)
        receiver.shutdown()


def test_kafka_examples_create_describe_and_produce_as_shown(env, kafka_broker, tmp_path):
    """The README's topic names are the defaults; the session broker's other tests use their own."""
    from pipeline.devtools.brokers import admin

    admin.delete_topics(kafka_broker.bootstrap, DEFAULT_TOPICS, timeout_s=10)
    try:
        steps = [(doc, cmd, shown) for doc, cmd, shown in ALL if cmd.startswith(KAFKA)]
        assert len(steps) >= 4
        for doc, cmd, shown in steps:
            line = cmd.replace("127.0.0.1:40123", kafka_broker.bootstrap).replace(".venv/bin/", f"{BIN}/")
            result = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True,
                                    timeout=120, check=False)
            assert result.returncode == 0, (cmd, result.stderr[-2000:])
            if shown is not None:
                assert matches(shown, result.stdout), f"{doc}: {cmd}\nshown: {shown}\ngot: {result.stdout[:600]}"
    finally:
        admin.delete_topics(kafka_broker.bootstrap, DEFAULT_TOPICS, timeout_s=10)
