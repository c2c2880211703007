"""``ner-stage run``: the whole stage on embedded defaults, in one command (a demo and a smoke test).

In order (progress on stderr, records on stdout as JSON lines): a local Tansu broker unless
``--bootstrap``; the worker's topics and the sample ticket's (``run_tickets.py``); the HTTP
server (a child ``ner-stage serve``) and the Kafka worker (the same ``Worker``, on a thread);
sample documents and one support ticket produced, every entity, redacted and dead-letter record
read back and printed, one ``/predict_tokens`` call; then a clean shutdown, or ``--keep-running``
until Ctrl-C / SIGTERM. It talks to Kafka through the worker's client factory
(``pipeline.kafka.clients``).

A part that fails is named and the others stay up; the exit status is the failed worker's
(docs/OPERATIONS.md), else 0. The worker runs in-process so its errors surface here; the server
is a child because an ASGI app owns its event loop. See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

import click

from pipeline.cli.options import as_flags, model_options, model_settings, settings_from, settings_options
from pipeline.config import DecodeSettings, ModelSettings
from pipeline.devtools.cli import run_tickets
from pipeline.devtools.settings import RunSettings
from pipeline.kafka.settings import SECURITY_FIELDS, KafkaSettings
from pipeline.records.settings import RecordSettings

SAMPLE_TEXTS = [
    "My name is John Smith and my email is john.smith@example.com",
    "Call Maria García on +1 (415) 555-0132 before Friday, or write to maria.garcia@example.org.",
    "Dr. Wei Chen moved to 221B Baker Street, London; his new number is 020 7946 0958.",
    "Invoice 4471 was paid by card 4111 1111 1111 1111 from IBAN DE89 3704 0044 0532 0130 00.",
    "The quarterly report is attached. No personal data here, just numbers: 12, 40 and 7.",
    # ~600 tokens: longer than the model window, so the worker processes it in overlapping windows
    " ".join(["Olga Ivanova reviewed the contract and asked Liam Brown to reply to olga@example.net."] * 30),
]


def _log_to_stderr() -> None:
    """stdout carries the records read back (JSON lines); logs go to stderr, info and up."""
    import logging

    import structlog

    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr),
                        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))


def _say(message: str) -> None:
    click.echo(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", err=True)


def _sample_documents(run_id: str, texts: list[str]) -> list[tuple[str, dict | None]]:
    docs: list[tuple[str, dict | None]] = [
        (f"{run_id}-{i}", {"id": f"{run_id}-{i}", "text": text, "metadata": {"source": "ner-stage run"}})
        for i, text in enumerate(texts, 1)
    ]
    docs.append((f"{run_id}-poison", None))  # empty text: goes to the dead-letter topic
    return docs


def _start_server(stack: ExitStack, settings: RunSettings, log_dir: Path, model_flags: list[str]) -> tuple:
    from pipeline.devtools.processes import die_with_parent, free_port

    port = settings.http_port or free_port()
    cmd = [sys.executable, "-m", "pipeline.cli.main", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--jobs-db", str(log_dir / "jobs.sqlite3"), *model_flags]
    log_file = stack.enter_context((log_dir / "serve.log").open("ab"))
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=die_with_parent)

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    stack.callback(stop)
    return proc, f"http://127.0.0.1:{port}"


def _wait_ready(proc: subprocess.Popen, url: str, timeout_s: float, log_path: Path) -> None:
    import httpx

    from pipeline.errors import ConfigError

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigError(f"the HTTP server exited with code {proc.returncode}; see {log_path}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise ConfigError(f"the HTTP server was not ready after {timeout_s:.0f}s; see {log_path}")


def _produce(producer, topic: str, records: list[tuple[str, bytes]], what: str) -> None:
    """Send (key, value) ``records`` to ``topic``; a DeliveryError naming ``what`` unless all are acknowledged."""
    from pipeline.kafka.errors import DeliveryError

    for key, value in records:
        producer.produce(topic, value, key.encode(), headers=[("producer", b"ner-stage run")])
    if producer.flush(30):
        raise DeliveryError(f"{what} not acknowledged by the broker")


def _encoded(codec, topic: str, docs: list[tuple[str, dict | None]]) -> list[tuple[str, bytes]]:
    """The sample documents in the topic's format; the poison one as JSON with an empty text."""
    return [(key, codec.encode(doc, "document", topic) if doc is not None else b'{"id": "poison", "text": ""}')
            for key, doc in docs]


def _read_back(consumer, kafka, codec, keys: set[str], expected: int, timeout_s: float, alive=lambda: True):
    """Yield (topic, key, record-or-headers) for our keys until ``expected`` records arrived
    (or the worker is no longer ``alive``: nothing more will come)."""
    from pipeline.kafka.dead_letters import read_error_headers

    contracts = {kafka.entities_topic: "entity_result", kafka.redacted_topic: "redacted_document"}
    seen = 0
    deadline = time.monotonic() + timeout_s
    while seen < expected and time.monotonic() < deadline and alive():
        batch = consumer.consume(1, 0.2)
        msg = batch[0] if batch else None
        if msg is None or msg.error():
            continue
        key = (msg.key() or b"").decode("utf-8", "replace")
        if key not in keys:
            continue
        seen += 1
        ticket = run_tickets.decode(msg.topic(), msg.value())
        if ticket is not None:
            yield msg.topic(), key, ticket
        elif msg.topic() == kafka.dlq_topic:
            yield msg.topic(), key, {"dead_letter": read_error_headers(msg.headers()),
                                     "original_value": (msg.value() or b"").decode("utf-8", "replace")}
        else:
            yield msg.topic(), key, codec.decode(msg.value(), contracts[msg.topic()], msg.topic())
    if seen < expected:
        _say(f"only {seen} of {expected} records came back" + ("" if alive() else " (the worker has stopped)"))


def _demo_http(url: str) -> None:
    import httpx

    body = {"inputs": [SAMPLE_TEXTS[0]], "aggregation_strategy": "first", "merge_adjacent": True}
    response = httpx.post(f"{url}/predict_tokens", json=body, timeout=30)
    spans = [f"{item['token']}={','.join(item['results'])}" for item in response.json()[0]] \
        if response.status_code == 200 else []
    _say(f"HTTP POST {url}/predict_tokens -> {response.status_code}; spans: {', '.join(spans) or response.text[:200]}")


def _run_worker(worker, errors: list[BaseException]) -> None:
    from pipeline.kafka.supervisor import report_death

    try:
        worker.run()
    except BaseException as exc:  # any death is reported; the broker and server stay up
        status = report_death(exc, "run")
        errors.append(exc)
        _say(f"part failed: the Kafka worker stopped ({type(exc).__name__}, exit status {status}); "
             "the broker and the HTTP server stay up")


@click.command("run", context_settings={"max_content_width": 110})
@settings_options(RunSettings)
@settings_options(RecordSettings, multi=("field_policy",))
@settings_options(DecodeSettings)
@settings_options(KafkaSettings, only=SECURITY_FIELDS)
@model_options
def command(**kwargs) -> None:
    """Run the whole stage on embedded defaults: a local broker (unless --bootstrap), the Kafka
    worker, the HTTP server and a producer of sample documents; print the entity, redacted and
    dead-letter records read back, then shut down (or keep running with --keep-running).

    Topic and group names come from the worker's settings (NER_INPUT, NER_ENTITIES_TOPIC,
    NER_REDACTED_TOPIC, NER_DLQ_TOPIC, NER_GROUP or --config); defaults documents, entities,
    redacted, dead-letters and group ner-stage. The record view flags (--text-fields,
    --redacted-mode, ...) set how the main worker reads its input topic (e.g. your own records
    with --bootstrap and --keep-running); the sample ticket always shows field mapping in place.
    """
    _log_to_stderr()
    config = kwargs.get("config_file")
    model_flags = as_flags(ModelSettings, kwargs)  # the flags given, passed on to `serve`
    if config:
        model_flags.append(f"--config={config}")
    model = model_settings(kwargs)
    settings = settings_from(RunSettings, kwargs)
    decode = settings_from(DecodeSettings, kwargs)
    records = settings_from(RecordSettings, kwargs)
    model_flags += as_flags(DecodeSettings, decode.model_dump())  # the server decodes /redact alike
    security = {name: kwargs.pop(name, None) for name in SECURITY_FIELDS}  # with --bootstrap: a secured cluster
    signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM cleans up like Ctrl-C
    with ExitStack() as stack:
        status = _stage(stack, settings, model, decode, model_flags, config, records, security)
    if status:
        sys.exit(status)


def _interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _stage(stack: ExitStack, settings: RunSettings, model, decode, model_flags: list[str], config,
           records: RecordSettings | None = None, security: dict | None = None) -> int:
    """Run the stage; the exit status (a failed worker's, else 0)."""
    from pipeline.devtools.brokers import admin, embedded
    from pipeline.kafka.clients import Clients
    from pipeline.kafka.supervisor import StageSettings, build_worker, exit_status
    from pipeline.redact import RedactSettings
    from schemas.codec import create_codec

    if settings.log_dir:
        logs = Path(settings.log_dir)
        logs.mkdir(parents=True, exist_ok=True)
    else:
        logs = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ner-stage-run-")))
    bootstrap, overrides = settings.bootstrap, {}
    if bootstrap is None:
        _say("starting a local Tansu broker")
        broker = stack.enter_context(embedded.start_broker("tansu", log_dir=logs))
        bootstrap = broker.bootstrap
        overrides["session_timeout_ms"] = admin.FAST_GROUP_CONFIG["session.timeout.ms"]
        _say(f"broker up on {bootstrap} (log {broker.log_path})")
    kafka = KafkaSettings.load(config, bootstrap=bootstrap, format=settings.format, **overrides, **(security or {}))
    client = {k: v for k, v in kafka.admin_config().items() if k != "bootstrap.servers"}  # TLS/SASL, if set
    if settings.bootstrap is not None:
        admin.wait_until_ready(bootstrap, timeout_s=min(settings.timeout, 30.0), client=client)
    outputs = [t for t in (kafka.entities_topic, kafka.redacted_topic, kafka.dlq_topic) if t]
    admin.create_topics(bootstrap, [*kafka.input, *outputs, *run_tickets.topics()], partitions=1,
                               client=client)
    _say(f"topics ready: input {','.join(kafka.input)} -> {', '.join(outputs)}")

    server = None
    if settings.serve:
        proc, url = _start_server(stack, settings, logs, model_flags)
        server = (proc, url)
        _say(f"HTTP server starting on {url} (log {logs / 'serve.log'})")

    _say(f"loading model {model.model} on {model.engine} for the worker")
    stage = StageSettings(kafka=kafka, model=model, decode=decode,
                          redact=RedactSettings.load(config), records=records or RecordSettings.load(config))
    stop = threading.Event()
    worker = build_worker(stage, 0, stop)
    errors: list[BaseException] = []
    thread = threading.Thread(target=_run_worker, args=(worker, errors), name="ner-worker", daemon=True)

    # the ticket worker: same model, its own topics and record view (a user's record, in place)
    tickets = build_worker(run_tickets.ticket_stage(stage), 0, stop, service=worker.processor.service)
    ticket_thread = threading.Thread(target=_run_worker, args=(tickets, errors), name="ner-tickets", daemon=True)

    def stop_worker() -> None:
        stop.set()
        thread.join(60)  # Worker._close releases the producer's connections before the broker stops
        ticket_thread.join(60)

    thread.start()
    ticket_thread.start()
    stack.callback(stop_worker)
    _say(f"worker consuming {','.join(kafka.input)} in group {kafka.group}; a second one redacts "
         f"{run_tickets.TOPIC} in place (--text-fields {','.join(run_tickets.RECORD_VIEW['text_fields'])})")

    codec = create_codec(kafka.format)
    clients = Clients()  # the worker's client factory: broker errors come typed, as the worker's do
    reader = clients.consumer({**kafka.consumer_config(), "group.id": f"ner-stage-run-reader-{uuid.uuid4().hex[:8]}"})
    stack.callback(reader.close)
    reader.assign_at_end([*outputs, run_tickets.OUTPUTS["entities_topic"], run_tickets.OUTPUTS["redacted_topic"]],
                         timeout=10)
    run_id = f"run-{uuid.uuid4().hex[:6]}"
    docs = _sample_documents(run_id, SAMPLE_TEXTS)
    producer = clients.producer({**kafka.producer_config(), "linger.ms": 0})
    _produce(producer, kafka.input[0], _encoded(codec, kafka.input[0], docs), "sample documents were")
    ticket_key, ticket_value = run_tickets.ticket_record(f"{run_id}-ticket")
    _produce(producer, run_tickets.TOPIC, [(ticket_key, ticket_value)], "the sample ticket was")
    per_doc = len([t for t in (kafka.entities_topic, kafka.redacted_topic) if t])
    expected = (len(docs) - 1) * per_doc + (1 if kafka.dlq_topic else 0) + 2
    _say(f"produced {len(docs)} sample documents to {kafka.input[0]} and a ticket to {run_tickets.TOPIC}; "
         f"reading {expected} records back")
    keys = {k for k, _ in docs} | {ticket_key}
    for topic, key, record in _read_back(reader, kafka, codec, keys, expected, settings.timeout,
                                         lambda: thread.is_alive() and ticket_thread.is_alive()):
        click.echo(json.dumps({"topic": topic, "key": key, "record": record}, ensure_ascii=False, default=str))

    if server is not None:
        _wait_ready(server[0], server[1], settings.timeout, logs / "serve.log")
        _demo_http(server[1])
    if settings.keep_running:
        _wait_for_signal(server[0] if server else None, logs,
                         f"running: bootstrap {bootstrap}, input topic {kafka.input[0]}"
                         + (f", HTTP {server[1]}" if server else "") + "; Ctrl-C stops")
    _say("shutting down" + (f" (failed part: the Kafka worker, {type(errors[0]).__name__})" if errors else ""))
    return exit_status(errors[0]) if errors else 0


def _wait_for_signal(server: subprocess.Popen | None, logs: Path, message: str) -> None:
    """Say ``message`` once SIGINT/SIGTERM mean "stop cleanly"; wait for one. A part that stops
    meanwhile is named once; the others keep running."""
    done = threading.Event()
    previous = {s: signal.signal(s, lambda *_: done.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    _say(message)
    server_reported = False
    try:
        while not done.wait(0.5):
            if server is not None and not server_reported and server.poll() is not None:
                server_reported = True
                _say(f"part failed: the HTTP server exited with code {server.returncode} (log {logs / 'serve.log'}); "
                     "the broker and the worker stay up")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
