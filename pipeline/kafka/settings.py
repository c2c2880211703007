"""Typed Kafka settings, turned into librdkafka dicts only at the edge (``*_config``).

Read like every other area (flags > ``NER_*`` env > config file > defaults), e.g.
``NER_BOOTSTRAP``, ``NER_INPUT`` (comma-separated), ``NER_SASL_PASSWORD``. Secrets are
``SecretStr`` so they never show in logs, reprs or ``--help``.
"""

from __future__ import annotations

import socket
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from pipeline.config import NerSettings

DeliveryMode = Literal["at_least_once", "exactly_once"]
CompressionType = Literal["none", "gzip", "snappy", "lz4", "zstd"]


class KafkaSettings(NerSettings):
    """Everything the Kafka worker needs besides the model."""

    bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, HOST:PORT[,HOST:PORT].")
    input: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["documents"], description="Input topics (comma-separated in env/flags)."
    )
    group: str = Field("ner-stage", description="Consumer group id.")
    group_instance_id: str | None = Field(
        None, description="Static group membership id (worker i uses ID-i): a restarted worker takes its partitions "
                          "back at once instead of waiting for the session timeout.")
    entities_topic: str | None = Field("entities", description="Entity results topic ('' or none disables).")
    redacted_topic: str | None = Field("redacted", description="Redacted text topic ('' or none disables).")
    dlq_topic: str | None = Field("dead-letters", description="Dead-letter topic ('' or none: log and skip).")
    format: Literal["json", "avro", "avro-registry"] = Field("json", description="Serialization of all topics.")
    schema_registry_url: str | None = Field(None, description="Schema Registry URL (format avro-registry).")
    schema_registry_auth: SecretStr | None = Field(None, description="Schema Registry USER:PASSWORD.")
    compression_type: CompressionType = Field(
        "gzip", description="Codec of the output record batches; every consumer needs it (kafkajs reads only gzip and "
                            "none without a codec package; see KAFKA_CONTRACTS.md).")

    batch_max_records: int = Field(64, ge=1, description="Most documents per micro-batch.")
    batch_max_tokens: int = Field(16384, ge=16, description="Token budget per micro-batch (padded tokens).")
    batch_max_wait_ms: int = Field(50, ge=0, description="Longest wait to fill a micro-batch.")
    queue_max_records: int = Field(256, ge=1, description="Decoded records buffered before partitions pause.")
    max_text_chars: int = Field(100_000, ge=1, description="Longer texts are dead-lettered.")
    on_error: Literal["stop", "dead-letter"] = Field(
        "stop", description="Stage errors (our bugs, a failing engine or redactor): stop the worker before the batch "
                            "commits, or dead-letter the records they fail on (like Kafka Connect's errors.tolerance). "
                            "Record errors (undecodable, bad schema, too long) are always dead-lettered.")
    dead_letter_max_share: float = Field(
        0.5, gt=0, le=1, description="Dead-letter breaker: stop when more than this share of the last "
                                     "dead_letter_window records were dead-lettered (1: never).")
    dead_letter_window: int = Field(500, ge=1, description="Records the dead-letter breaker looks back over.")

    delivery: DeliveryMode = Field("at_least_once", description="at_least_once or exactly_once (transactions).")
    transactional_id: str | None = Field(
        None, description="Transactional id prefix for exactly_once (default ner-stage-<group>; the id is "
                          "<prefix>-<group instance id or host name>-<worker index>)."
    )
    workers: int = Field(1, ge=1, description="Consumer processes in the group.")
    metrics_port: int = Field(
        9100, ge=0, le=65535, description="Port of /metrics (Prometheus), /health and /ready (worker i: +i; 0: off).")
    progress_interval_s: float = Field(
        30.0, ge=0, description="A kafka.progress log line this often: records in, outputs, dead letters, docs/s, "
                                "lag per partition (0: off).")
    health_stall_s: float = Field(
        120.0, gt=0, description="/health answers 503 when the worker loop has not turned for this long (a batch "
                                 "stuck in the engine or a hung broker call).")
    auto_offset_reset: Literal["earliest", "latest"] = Field("earliest", description="Where a new group starts.")
    session_timeout_ms: int = Field(45_000, ge=1000, description="Consumer group session timeout.")

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How clients talk to the brokers.")
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = Field(
        None, description="SASL mechanism (with SASL_* protocols).")
    sasl_username: str | None = Field(None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(None, description="SASL password (environment or config file only).")
    ssl_ca_location: str | None = Field(None, description="CA certificate file for verifying the brokers.")
    ssl_certificate_location: str | None = Field(None, description="Client certificate file (mutual TLS).")
    ssl_key_location: str | None = Field(None, description="Client private key file (mutual TLS).")
    ssl_key_password: SecretStr | None = Field(None, description="Client key password (environment or config only).")
    librdkafka: dict[str, str] = Field(
        default_factory=dict, description="Extra librdkafka properties for both clients (override ours)."
    )

    @field_validator("input", mode="before")
    @classmethod
    def _split_topics(cls, value):
        if isinstance(value, str):
            value = value.split(",")
        return [t.strip() for t in value if t and t.strip()]

    @field_validator("entities_topic", "redacted_topic", "dlq_topic", mode="before")
    @classmethod
    def _empty_is_off(cls, value):
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off", "-")):
            return None
        return value

    @model_validator(mode="after")
    def _check(self) -> KafkaSettings:
        if not self.input:
            raise ValueError("at least one input topic is required")
        if self.format == "avro-registry" and not self.schema_registry_url:
            raise ValueError("format avro-registry needs schema_registry_url")
        outputs = {self.entities_topic, self.redacted_topic, self.dlq_topic} - {None}
        if outputs & set(self.input):
            raise ValueError("an output topic cannot also be an input topic")
        return self

    @property
    def exactly_once(self) -> bool:
        return self.delivery == "exactly_once"

    # -- the edge: librdkafka dicts ---------------------------------------------------------

    def _common(self) -> dict[str, str | int | bool]:
        conf: dict[str, str | int | bool] = {"bootstrap.servers": self.bootstrap,
                                             "security.protocol": self.security_protocol}
        optional = {
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.sasl_username,
            "sasl.password": self.sasl_password.get_secret_value() if self.sasl_password else None,
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
            "ssl.key.password": self.ssl_key_password.get_secret_value() if self.ssl_key_password else None,
        }
        conf.update({k: v for k, v in optional.items() if v is not None})
        return conf

    def consumer_config(self, worker_index: int = 0) -> dict:
        """Manual commits only (the worker commits after outputs are acknowledged)."""
        conf: dict = {
            **self._common(),
            "group.id": self.group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": self.auto_offset_reset,
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": max(500, self.session_timeout_ms // 5),
            "isolation.level": "read_committed",
            "enable.partition.eof": False,
        }
        if self.group_instance_id:
            conf["group.instance.id"] = f"{self.group_instance_id}-{worker_index}"
        return {**conf, **self.librdkafka}

    def producer_config(self, worker_index: int = 0) -> dict:
        """Idempotent always; transactional in exactly_once mode (one id per worker process)."""
        conf = {
            **self._common(),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": self.compression_type,
        }
        if self.exactly_once:
            # unique per process: two live producers with one id fence each other; a restarted worker
            # on the same host (or with the same static member id) reuses its id and aborts the dead
            # one's open transaction at once instead of after transaction.timeout.ms
            prefix = self.transactional_id or f"ner-stage-{self.group}"
            instance = self.group_instance_id or socket.gethostname()
            conf["transactional.id"] = f"{prefix}-{instance}-{worker_index}"
        return {**conf, **self.librdkafka}

    def registry_config(self) -> dict:
        if self.schema_registry_auth is None:
            return {}
        return {"basic.auth.user.info": self.schema_registry_auth.get_secret_value()}

    def admin_config(self) -> dict:
        """Connection only (``ner-stage topics``): bootstrap, security and the extra properties."""
        return {**self._common(), **self.librdkafka}
