"""Settings of the workbench's commands (``ner-stage broker``, ``ner-stage run``); a config file
may carry their keys beside the worker's (``pipeline.config`` finds every ``settings.py``).

``broker``'s settings have a ``broker_`` prefix (``NER_BROKER_PORT``, config key ``broker_port``)
so they never collide with ``serve``'s ``NER_PORT`` or the engine's ``NER_CACHE_DIR``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipeline.config import NerSettings


class BrokerSettings(NerSettings):
    """Settings of ``ner-stage broker``."""

    broker_kind: Literal["apache", "tansu"] | None = Field(
        None, description="apache (Apache Kafka via Java; needs java and, on first use, mvn) or tansu "
                          "(in-memory, no JVM) (default: apache where Java and Maven are available, else tansu)")
    broker_port: int = Field(0, ge=0, le=65535,
                             description="Port of the first node; node i uses PORT+i (0: free ports).")
    broker_data_dir: str | None = Field(
        None, description="Apache Kafka data directory, kept and reused (default: a temporary one, removed on exit).")
    broker_count: int = Field(1, ge=1, le=9, description="Number of Apache Kafka nodes (broker+controller each).")
    broker_heap_mb: int = Field(512, ge=128, description="Java heap of each Apache Kafka node, MiB.")
    broker_security: Literal["plaintext", "sasl_ssl", "mtls"] = Field(
        "plaintext", description="plaintext (no authentication, no ACLs), sasl_ssl (SCRAM-SHA-512 users over TLS) or "
                                 "mtls (client certificates); secured brokers run the ACL authorizer, deny by default, "
                                 "with one super user whose client settings the JSON line carries (Apache Kafka only)")
    kafka_cache_dir: str | None = Field(
        None, description="Where the Apache Kafka jars (and the Schema Registry jar) are cached (default: .cache/ "
                          "in a checkout, else ~/.cache/ner-stage).")
    broker_schema_registry: bool = Field(
        False, description="Also start a Schema Registry (Apicurio, Confluent-compatible API under /apis/ccompat/v7; "
                           "needs java and, on first use, mvn) and print its URL in the JSON line.")

    @model_validator(mode="after")
    def _ports_fit(self) -> BrokerSettings:
        """Node i listens on PORT+i: say so up front instead of letting the last JVM fail to bind."""
        if self.broker_port and self.broker_port + self.broker_count - 1 > 65535:
            raise ValueError(f"broker_port {self.broker_port} with broker_count {self.broker_count} needs ports up to "
                             f"{self.broker_port + self.broker_count - 1}; the last port is 65535")
        return self


class RunSettings(NerSettings):
    """Settings of ``ner-stage run`` itself (the worker and server read their own)."""

    bootstrap: str | None = Field(None, description="Kafka bootstrap servers; none: start a local Tansu broker.")
    format: Literal["json", "avro"] = Field("json", description="Serialization of every topic.")
    serve: bool = Field(True, description="Also start the HTTP server.")
    http_port: int = Field(0, ge=0, le=65535, description="HTTP port (0: a free one).")
    keep_running: bool = Field(False, description="Keep broker, worker and server running until Ctrl-C.")
    timeout: float = Field(180.0, gt=0, description="Longest wait for each step (server start, records back).")
    log_dir: str | None = Field(None, description="Where broker and server logs go (default: a temp directory).")
