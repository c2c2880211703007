"""``ner-stage broker``: a local development Kafka broker in the foreground.

When the broker answers, exactly one JSON line goes to stdout --
``{"bootstrap": "127.0.0.1:P", "kind": "apache"}`` (with ``--brokers N``, the bootstrap lists
all N nodes, comma-separated) -- so scripts can read it and go on. With ``--security sasl_ssl``
or ``mtls`` the line adds the super user's client settings, named like the worker's settings
(``security_protocol``, ``ssl_ca_location``; ``sasl_mechanism``/``sasl_username``/
``sasl_password``, or ``ssl_certificate_location``/``ssl_key_location``): that line and the 0600
files under ``<data dir>/security`` are the only places the secrets appear; progress and notes go to
stderr, broker logs to files. SIGTERM or Ctrl-C stops the broker cleanly and exits 0; a node
that dies on its own ends the command with status 1.

``--schema-registry`` also starts a Schema Registry (Apicurio Registry, Confluent-compatible
API; :mod:`pipeline.devtools.schema_registry`) on a free port and adds its URL to the line:
``"schema_registry": "http://127.0.0.1:P/apis/ccompat/v7"``. It stops with the broker.
Settings: :class:`pipeline.devtools.settings.BrokerSettings`.
"""

from __future__ import annotations

import json
import signal
import sys
import tempfile
import threading
from contextlib import ExitStack
from pathlib import Path

import click

from pipeline.cli.options import config_option, settings_from, settings_options
from pipeline.devtools.settings import BrokerSettings

#: The short flags of the issue that specified this command (``--kind``, ``--port``, ``--data-dir``,
#: ``--brokers``), beside the generated ``--broker-*`` ones.
FLAG_ALIASES = {"broker_kind": "kind", "broker_port": "port", "broker_data_dir": "data-dir",
                "broker_count": "brokers", "broker_heap_mb": "heap-mb", "kafka_cache_dir": "cache-dir",
                "broker_schema_registry": "schema-registry", "broker_security": "security"}


def _progress(message: str) -> None:
    click.echo(message, err=True)


def _choose_kind(settings: BrokerSettings) -> str:
    if settings.broker_kind is not None:
        if settings.broker_kind == "tansu" and settings.broker_security != "plaintext":
            raise click.UsageError("--security sasl_ssl|mtls needs --kind apache (Tansu has no TLS, SASL or ACLs)")
        return settings.broker_kind
    if settings.broker_security != "plaintext":
        return "apache"  # no fallback: a secured broker is Apache Kafka or an error
    from pipeline.devtools.brokers.apache.artifacts import ApacheKafkaUnavailableError, apache_available

    try:
        apache_available(Path(settings.kafka_cache_dir) if settings.kafka_cache_dir else None)
    except ApacheKafkaUnavailableError as exc:
        _progress(f"note: using the Tansu broker because Apache Kafka cannot run here: {exc}")
        return "tansu"
    return "apache"


def _start(settings: BrokerSettings, kind: str, stack: ExitStack):
    if kind == "tansu":
        from pipeline.devtools.brokers import embedded

        if settings.broker_count != 1:
            raise click.UsageError("--brokers applies to --kind apache only (Tansu runs one node)")
        if settings.broker_data_dir:
            _progress("note: Tansu keeps everything in memory; --data-dir is not used")
        broker = stack.enter_context(embedded.start_broker("tansu", port=settings.broker_port or None))
        _progress(f"Tansu log: {broker.log_path}")
        return broker
    from pipeline.devtools.brokers.apache import start_apache

    cluster = stack.enter_context(start_apache(
        brokers=settings.broker_count, port=settings.broker_port, data_dir=settings.broker_data_dir,
        cache_dir=Path(settings.kafka_cache_dir) if settings.kafka_cache_dir else None,
        heap_mb=settings.broker_heap_mb, progress=_progress, security=settings.broker_security))
    _progress(f"Apache Kafka logs: {cluster.log_dir}")
    return cluster


def _start_with_registry(settings: BrokerSettings, kind: str, stack: ExitStack):
    """The broker and Apicurio Registry, whose JVM is launched first so both start at once (each
    takes seconds to answer). Both stop when ``stack`` closes, also when either fails to start."""
    from pipeline.devtools.schema_registry import (
        SchemaRegistryStartError,
        launch_schema_registry,
        start_schema_registry,
    )

    if settings.broker_data_dir:
        log_dir = Path(settings.broker_data_dir) / "logs"
    else:
        log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ner-stage-schema-registry-")))
    cache_dir = Path(settings.kafka_cache_dir) if settings.kafka_cache_dir else None
    registry = stack.enter_context(launch_schema_registry(log_dir=log_dir, cache_dir=cache_dir, progress=_progress))
    broker = _start(settings, kind, stack)
    try:
        registry.wait_until_ready(timeout_s=120.0)
    except SchemaRegistryStartError as exc:  # e.g. its free port was taken meanwhile: start it again, retrying
        _progress(f"note: {str(exc).splitlines()[0]}; starting it again")
        registry = stack.enter_context(start_schema_registry(log_dir=log_dir, cache_dir=cache_dir))
    _progress(f"Schema Registry log: {registry.log_path}")
    return broker, registry


@click.command("broker", context_settings={"max_content_width": 110})
@settings_options(BrokerSettings, aliases=FLAG_ALIASES)
@config_option
def command(config_file, **flags) -> None:
    """Run a local development Kafka broker in the foreground.

    Apache Kafka (KRaft) runs from its Maven Central jars with the machine's Java 17+; the
    first use resolves them with Maven into the cache (progress on stderr). When the broker
    answers, one JSON line {"bootstrap": "127.0.0.1:P", "kind": "apache"} goes to stdout
    (with --schema-registry, also "schema_registry": its Confluent-compatible URL). SIGTERM or
    Ctrl-C stops them. --security sasl_ssl|mtls adds TLS, SCRAM-SHA-512 or client
    certificates and ACLs (deny by default); the line then carries the super user's client
    settings (security_protocol, ssl_ca_location, sasl_* or ssl_certificate/key_location).
    Tansu (--kind tansu) needs no JVM but does not support static membership
    (--group-instance-id) nor hide aborted transactions.
    """
    import logging

    import structlog

    # stdout carries only the bootstrap line; our logs go to stderr
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr),
                        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    settings = settings_from(BrokerSettings, {**flags, "config_file": config_file})
    kind = _choose_kind(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with ExitStack() as stack:
        if settings.broker_schema_registry:
            broker, registry = _start_with_registry(settings, kind, stack)
        else:
            broker, registry = _start(settings, kind, stack), None
        security = getattr(broker, "security", None)
        ready = {"bootstrap": broker.bootstrap, "kind": kind, **(security.client_settings() if security else {})}
        if registry is not None:
            ready["schema_registry"] = registry.url
        click.echo(json.dumps(ready))  # the only place the super user's password is shown
        sys.stdout.flush()
        while not stop.wait(0.5):
            if not broker.running:
                logs = getattr(broker, "log_dir", None) or broker.log_path
                _progress(f"the {kind} broker stopped on its own; logs: {logs}")
                sys.exit(1)
            if registry is not None and not registry.running:
                _progress(f"the Schema Registry stopped on its own; log: {registry.log_path}")
                sys.exit(1)
        _progress(f"stopping the {kind} broker" + (" and the Schema Registry" if registry is not None else ""))
