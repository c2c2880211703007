"""``bench kafka --security sasl_ssl|mtls``: what TLS, SASL/SCRAM or client certificates and
ACL checks cost the stage end to end, beside plaintext in the same run.

A second local Apache Kafka runs with the chosen security (``ner-stage broker --security``);
the worker connects as a user holding only its documented ACLs (``pipeline.kafka.acls``), so
the authorizer's checks are on the measured path, as in production. The passes alternate
(plaintext, secured, plaintext, secured; the first plaintext one is the main end-to-end pass)
on fresh topics each, so a drift in machine load weighs on both sides alike; the ratio is
mean plaintext seconds / mean secured seconds. Target (issue 23): >= 0.95.
"""

from __future__ import annotations

import dataclasses
import secrets
import tempfile
from pathlib import Path

import click
from pydantic import SecretStr

from pipeline.devtools.bench.common import progress

TARGET = 0.95
ROUNDS = 2
USER = "ner-bench"


def _fresh(stage, bootstrap: str, tag: str, **security):
    """``stage`` on ``bootstrap`` with its own topics and group (and the secured user's settings)."""
    kafka = stage.kafka.model_copy(update={"bootstrap": bootstrap,
        "input": [f"bench-in-{tag}"], "group": f"bench-{tag}", "entities_topic": f"bench-entities-{tag}",
        "redacted_topic": f"bench-redacted-{tag}", "dlq_topic": f"bench-dlq-{tag}", **security})
    return dataclasses.replace(stage, kafka=kafka)


def _worker_user(cluster, mode: str, workdir: Path) -> dict:
    """Create the worker's user on ``cluster``; its client settings (KafkaSettings field names)."""
    ca = str(cluster.security.ca.cert_path)
    if mode == "mtls":
        cert, key = cluster.security.ca.issue(workdir, USER)
        return {"security_protocol": "SSL", "ssl_ca_location": ca, "ssl_certificate_location": str(cert),
                "ssl_key_location": str(key)}
    from confluent_kafka.admin import AdminClient, ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    password = secrets.token_urlsafe(18)
    admin = AdminClient(cluster.client_config())
    upsert = UserScramCredentialUpsertion(USER, ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192),
                                          password.encode())
    for future in admin.alter_user_scram_credentials([upsert], request_timeout=30).values():
        future.result(30)
    return {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": USER,
            "sasl_password": SecretStr(password), "ssl_ca_location": ca}


def compare_security(mode: str, stage, plain, documents: list, timeout_s: float, run: str, first_plain_s: float,
                     end_to_end) -> dict:
    """Alternate plaintext and ``mode`` passes; ``end_to_end`` is bench kafka's pass function."""
    from pipeline.devtools.brokers.apache import start_apache
    from pipeline.kafka.acls import grant, worker_acls

    n = len(documents)
    plain_s, secured_s = [first_plain_s], []
    with tempfile.TemporaryDirectory(prefix="ner-bench-security-") as workdir, \
            start_apache(security=mode, progress=progress) as cluster:
        user = _worker_user(cluster, mode, Path(workdir))
        for i in range(ROUNDS):
            secured = _fresh(stage, cluster.bootstrap, f"{run}-{mode}-{i}", **user)
            grant(cluster.client_config(), worker_acls(secured.kafka), f"User:{USER}")
            progress(f"Kafka end to end over {mode}, pass {i + 1} of {ROUNDS} (broker {cluster.bootstrap})")
            secured_s.append(end_to_end(cluster.bootstrap, secured, documents, timeout_s,
                                        cluster.security.client_config())["seconds"])
            progress(f"  {mode}: {n / secured_s[-1]:.1f} docs/s")
            if len(plain_s) < ROUNDS:
                progress(f"Kafka end to end over plaintext, pass {len(plain_s) + 1} of {ROUNDS}")
                plain_s.append(end_to_end(plain.bootstrap, _fresh(stage, plain.bootstrap, f"{run}-plain-{i}"),
                                          documents, timeout_s)["seconds"])
                progress(f"  plaintext: {n / plain_s[-1]:.1f} docs/s")
    ratio = (sum(plain_s) / len(plain_s)) / (sum(secured_s) / len(secured_s))
    return {"mode": mode, "order": "plaintext, secured, alternating", "worker_user_acls": "documented only",
            "plaintext_docs_per_s": [n / s for s in plain_s], "secured_docs_per_s": [n / s for s in secured_s],
            "secured_vs_plaintext": ratio, "target": TARGET, "met": ratio >= TARGET}


def print_security(result: dict) -> None:
    plain = ", ".join(f"{r:.1f}" for r in result["plaintext_docs_per_s"])
    secured = ", ".join(f"{r:.1f}" for r in result["secured_docs_per_s"])
    click.echo(f"  end to end plaintext docs/s [{plain}] vs {result['mode']} [{secured}]: "
               f"{result['mode']} / plaintext {result['secured_vs_plaintext']:.3f} "
               f"(target {result['target']}: {'met' if result['met'] else 'MISSED'})")
