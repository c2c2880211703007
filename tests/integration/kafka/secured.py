"""Test plumbing for secured clusters: a worker user with exactly the documented ACLs, and an
in-process worker on the session model with that user's settings."""

from __future__ import annotations

import secrets
import threading
import uuid

from pipeline.config import DecodeSettings, ModelSettings
from pipeline.kafka.acls import grant, worker_acls
from pipeline.kafka.settings import KafkaSettings
from pipeline.kafka.supervisor import StageSettings, build_worker
from pipeline.redact import RedactSettings
from tests.integration.conftest import Broker

USER = "ner"
PRINCIPAL = f"User:{USER}"


def add_scram_user(broker: Broker, name: str, password: str) -> None:
    """A SCRAM-SHA-512 user, made by the super user with the Admin API (as DESIGN.md says)."""
    from confluent_kafka.admin import (
        AdminClient,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialUpsertion,
    )

    admin = AdminClient(broker.client_config())
    upsert = UserScramCredentialUpsertion(name, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096),
                                          password.encode())
    for future in admin.alter_user_scram_credentials([upsert], request_timeout=30).values():
        future.result(30)


def new_password() -> str:
    return secrets.token_urlsafe(18)


def worker_settings(broker: Broker, names, client: dict, **overrides) -> KafkaSettings:
    """``client``: the worker user's security settings (``security_protocol``, ``sasl_*``, ``ssl_*``)."""
    return KafkaSettings(bootstrap=broker.bootstrap, input=[names.input], group=f"g-{uuid.uuid4().hex[:8]}",
                         entities_topic=names.entities, redacted_topic=names.redacted, dlq_topic=names.dlq,
                         session_timeout_ms=6000, startup_timeout_s=30, **client, **overrides)


def grant_worker(broker: Broker, settings: KafkaSettings, *, leave_out=None) -> list:
    """Grant the worker's documented ACLs (the required ones, less ``leave_out``); returns them."""
    acls = [acl for acl in worker_acls(settings, optional=False) if acl != leave_out]
    grant(broker.client_config(), acls, PRINCIPAL)
    return acls


def build(settings: KafkaSettings, service, stop: threading.Event | None = None):
    stage = StageSettings(settings, ModelSettings(threads=1), DecodeSettings(), RedactSettings())
    return build_worker(stage, stop=stop, service=service)


class Running:
    """A worker thread; :meth:`finish` stops (drains) it and re-raises its error."""

    def __init__(self, settings: KafkaSettings, service) -> None:
        self.stop = threading.Event()
        self.worker = build(settings, service, self.stop)
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, name="secured-worker", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.worker.run()
        except BaseException as exc:
            self.errors.append(exc)

    def finish(self, timeout: float = 60) -> None:
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "worker did not stop"
        if self.errors:
            raise self.errors[0]
