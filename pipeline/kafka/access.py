"""The worker's access to a secured cluster: a bounded start-up check, and client errors that
are named once instead of logged once per retry.

Why a start-up check: librdkafka retries everything forever. A wrong password, an untrusted
certificate, a missing ACL or a bootstrap that never answers would otherwise show as an
endless stream of reconnect lines (about 1,500 in 30 s) and a worker that never gives up.
:func:`check_access` asks the brokers, before anything is consumed or produced, for what
every delivery mode needs (docs/OPERATIONS.md, "Secured clusters"):

- metadata of every input topic (READ implies DESCRIBE) and output topic (WRITE implies
  DESCRIBE): this also proves a broker answers and we authenticated, within
  ``startup_timeout_s``;
- the group's committed offsets (READ on the group implies DESCRIBE);
- exactly-once: ``init_transactions`` (WRITE on the transactional id), through :func:`explained`.

Each refusal is ONE typed stage error naming the principal, operation and resource
(``principal User:ner lacks WRITE on topic entities``), so nothing is consumed, dead-lettered
or committed. Messages come from librdkafka's error names and our own words, never from a
setting that holds a secret.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import structlog
from confluent_kafka import KafkaError, TopicPartition

from pipeline.kafka.errors import (
    AuthenticationError,
    AuthorizationError,
    BrokerError,
    StartupTimeoutError,
)
from pipeline.kafka.settings import KafkaSettings

log = structlog.get_logger(__name__)

#: Errors that mean "the cluster refused who we are": retrying cannot help.
REFUSED = frozenset({KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED})
#: TLS failures that are verdicts, not a dropped connection (those are retried like any other).
TLS_VERDICTS = ("certificate verify failed", "ssl/tls alert")
AUTHORIZATION = {
    "TOPIC_AUTHORIZATION_FAILED": "topic",
    "GROUP_AUTHORIZATION_FAILED": "group",
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED": "transactional id",
    "CLUSTER_AUTHORIZATION_FAILED": "cluster",
}


def _refusal(err: KafkaError) -> bool:
    """A failed login, or a certificate one side refused (ours: a TLS alert; theirs: verify failed)."""
    if err.code() in REFUSED:
        return True
    text = err.str().lower()
    return err.code() in (KafkaError._SSL, KafkaError._TRANSPORT) and any(v in text for v in TLS_VERDICTS)


def principal(settings: KafkaSettings) -> str:
    """The principal the brokers will see, as ACLs name it (``User:ner``)."""
    if settings.security_protocol.startswith("SASL") and settings.sasl_username:
        return f"User:{settings.sasl_username}"
    if settings.ssl_certificate_location:
        with contextlib.suppress(Exception):  # unreadable here: librdkafka will say why
            from cryptography import x509

            cert = x509.load_pem_x509_certificate(Path(settings.ssl_certificate_location).read_bytes())
            return f"User:{cert.subject.rfc4514_string()}"
    return "User:ANONYMOUS"


class ClientErrors:
    """librdkafka's ``error_cb`` and ``logger``: remembers what matters, logs each kind of error
    at most once per ``interval_s`` (with how often it repeated meanwhile)."""

    def __init__(self, interval_s: float = 30.0, worker: int = 0) -> None:
        self.interval_s = interval_s
        self.worker = worker
        self.fatal: str | None = None
        self.fatal_code: str | None = None
        self.refused: KafkaError | None = None  # authentication or TLS failure
        self.last: str | None = None
        self._logged: dict[str, float] = {}
        self._repeats: dict[str, int] = {}

    def _due(self, key: str) -> int | None:
        """None while ``key`` was logged less than ``interval_s`` ago; else the repeats since."""
        now = time.monotonic()
        at = self._logged.get(key)
        if at is not None and now - at < self.interval_s:
            self._repeats[key] = self._repeats.get(key, 0) + 1
            return None
        self._logged[key] = now
        return self._repeats.pop(key, 0)

    def __call__(self, err: KafkaError) -> None:
        if err.fatal():
            self.fatal, self.fatal_code = err.str(), err.name()
        if _refusal(err):
            self.refused = err
        if err.code() != KafkaError._ALL_BROKERS_DOWN:  # says less than the error before it
            self.last = f"{err.name()}: {err.str()}"
        repeated = self._due(err.name())
        if repeated is not None:
            log.warning("kafka.client_error", worker=self.worker, error=err.name(), reason=err.str(),
                        repeated=repeated)

    def log(self, level: int, fmt: str, *args) -> None:
        """librdkafka's own log lines (``logger`` setting), throttled by facility like errors."""
        facility = str(args[0]) if args else "log"
        repeated = self._due(f"log:{facility}")
        if repeated is not None and level >= logging.WARNING:  # confluent-kafka maps syslog levels to logging's
            log.warning("kafka.librdkafka", worker=self.worker, facility=facility,
                        message=str(args[-1]) if args else fmt, repeated=repeated)

    def raise_refused(self, settings: KafkaSettings) -> None:
        if self.refused is not None:
            raise AuthenticationError(f"the brokers refused {principal(settings)} "
                                      f"({settings.security_protocol}): {self.refused.str()}",
                                      code=self.refused.name())


def _lacks(settings: KafkaSettings, operation: str, kind: str, name: str, code: str) -> AuthorizationError:
    return AuthorizationError(f"principal {principal(settings)} lacks {operation} on {kind} {name}", code=code)


def check_certificate(settings: KafkaSettings) -> None:
    """An expired (or not yet valid) client certificate, said before the broker refuses it with
    a bare TLS alert."""
    if not settings.ssl_certificate_location:
        return
    try:
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(Path(settings.ssl_certificate_location).read_bytes())
    except Exception:  # unreadable or not PEM: librdkafka says why when it loads it
        return
    now, which = time.time(), f"the client certificate {settings.ssl_certificate_location} of {principal(settings)}"
    if cert.not_valid_after_utc.timestamp() < now:
        raise AuthenticationError(f"{which} expired on {cert.not_valid_after_utc:%Y-%m-%d %H:%M} UTC",
                                  code="CERT_EXPIRED")
    if cert.not_valid_before_utc.timestamp() > now:
        raise AuthenticationError(f"{which} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
                                  code="CERT_NOT_YET_VALID")


def check_access(consumer, settings: KafkaSettings, errors: ClientErrors) -> None:
    """Raise a typed error unless every topic and the group are reachable with our rights, within
    ``settings.startup_timeout_s`` (``consumer``: a :class:`~pipeline.kafka.clients.ConsumerClient`)."""
    check_certificate(settings)
    deadline = time.monotonic() + settings.startup_timeout_s
    wanted = {**{t: "READ" for t in settings.input},
              **{t: "WRITE" for t in (settings.entities_topic, settings.redacted_topic, settings.dlq_topic) if t}}
    for topic, operation in wanted.items():
        code = _until_answered(lambda topic=topic: consumer.topic_error(topic, 1.0), settings, errors, deadline,
                               consumer)
        if code in AUTHORIZATION:
            raise _lacks(settings, operation, "topic", topic, code)
    parts = [TopicPartition(t, 0) for t in settings.input]

    def offsets() -> None:
        try:
            consumer.committed(parts, 2.0)
        except BrokerError:
            # the coordinator's refusal reaches us as an error event, not as the call's error
            for event in consumer.consume(10, 0.1):
                err = event.error()
                if err is not None and err.name() in AUTHORIZATION:
                    raise _lacks(settings, "READ", "group", settings.group, err.name()) from None
            raise

    try:
        _until_answered(offsets, settings, errors, deadline, consumer)
    except BrokerError as exc:
        if exc.code in AUTHORIZATION and not isinstance(exc, AuthorizationError):
            raise _lacks(settings, "READ", "group", settings.group, exc.code) from exc
        raise


def _until_answered(ask, settings: KafkaSettings, errors: ClientErrors, deadline: float, consumer):
    """Call ``ask`` until a broker answers it; an authentication failure or the deadline ends it."""
    while True:
        errors.raise_refused(settings)
        try:
            return ask()
        except BrokerError as exc:
            for event in consumer.consume(10, 0):  # serves error_cb (librdkafka calls it only from here)
                if event.error() is not None:
                    errors(event.error())
            errors.raise_refused(settings)
            if exc.code in AUTHORIZATION or isinstance(exc, AuthorizationError):
                raise
            if time.monotonic() > deadline:
                raise StartupTimeoutError(
                    f"no Kafka broker on {settings.bootstrap} answered within {settings.startup_timeout_s:.0f}s "
                    f"(startup_timeout_s; last client error: {errors.last or exc})", code=exc.code) from exc
            time.sleep(0.2)


@contextlib.contextmanager
def explained(settings: KafkaSettings, errors: ClientErrors, index: int = 0) -> Iterator[None]:
    """Turn an authorization or authentication failure inside the block into the named error."""
    try:
        yield
    except BrokerError as exc:
        errors.raise_refused(settings)
        if exc.code == "TRANSACTIONAL_ID_AUTHORIZATION_FAILED":
            txn_id = settings.producer_config(index).get("transactional.id", "?")
            raise _lacks(settings, "WRITE", "transactional id", txn_id, exc.code) from exc
        if exc.code in AUTHORIZATION:
            raise AuthorizationError(f"principal {principal(settings)} was refused: {exc}", code=exc.code) from exc
        raise


def denied_output(settings: KafkaSettings, tracker) -> AuthorizationError | None:
    """An output the broker refused for a missing ACL (``DeliveryTracker.denied``): a stage
    error naming it, never a reason to dead-letter the record."""
    if not tracker.denied:
        return None
    topic, code = tracker.denied[0]
    return _lacks(settings, "WRITE", "topic", topic, code)


def refused_record_error(settings: KafkaSettings, err: KafkaError, topic: str | None, group: str) -> BrokerError | None:
    """A consume-time authorization error as the named stage error (None for other errors)."""
    kind = AUTHORIZATION.get(err.name())
    if kind is None:
        return None
    if kind == "group":
        return _lacks(settings, "READ", "group", group, err.name())
    if kind == "topic" and topic:
        return _lacks(settings, "READ", "topic", topic, err.name())
    return AuthorizationError(f"principal {principal(settings)} was refused: {err.str()}", code=err.name())
