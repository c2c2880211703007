"""``ner-stage worker`` refused by a secured cluster: a wrong password, a CA that did not sign
the brokers' certificate, an expired client certificate. Each worker exits with the stage-error
status within its start-up timeout, with ONE failure line naming the cause; the password is in
no log line, and the retries of the client library do not flood the log.

The three workers run at once (each loads the model; one start-up instead of three).
"""

from __future__ import annotations

import time
import uuid

import pytest

from pipeline.devtools.brokers.apache.security import CertificateAuthority
from pipeline.kafka.supervisor import EXIT_STAGE_ERROR
from tests.integration.kafka.kafka_io import worker_args
from tests.integration.kafka.secured import USER, add_scram_user, new_password

pytestmark = pytest.mark.integration
ROLES = ("input", "entities", "redacted", "dlq")
STARTUP_S = 20


@pytest.fixture(scope="module")
def refused(sasl_ssl_broker, mtls_broker, tmp_path_factory) -> dict:
    """name -> (worker process, the secret it was given, seconds until it exited)."""
    from tests.integration.kafka.kafka_io import WorkerProcess

    tmp = tmp_path_factory.mktemp("refused")
    password = new_password()
    add_scram_user(sasl_ssl_broker, USER, password)
    wrong = new_password()
    stranger = CertificateAuthority.create(tmp / "other-ca", "a CA the brokers never heard of")
    expired_cert, expired_key = mtls_broker.apache.security.ca.issue(tmp / "expired", USER, expired=True)
    names = type("Names", (), {"input": "in", "entities": "ent", "redacted": "red", "dlq": "dlq"})
    sasl = ["--security-protocol", "SASL_SSL", "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-username", USER]
    cases = {
        "wrong_password": (sasl_ssl_broker, [*sasl, "--ssl-ca-location", sasl_ssl_broker.security["ssl.ca.location"]],
                           wrong),
        "untrusted_ca": (sasl_ssl_broker, [*sasl, "--ssl-ca-location", str(stranger.cert_path)], password),
        "expired_certificate": (mtls_broker, ["--security-protocol", "SSL", "--ssl-ca-location",
                                              mtls_broker.security["ssl.ca.location"], "--ssl-certificate-location",
                                              str(expired_cert), "--ssl-key-location", str(expired_key)], None),
    }
    started, out = time.monotonic(), {}
    for name, (broker, flags, secret) in cases.items():
        env = {"NER_STARTUP_TIMEOUT_S": str(STARTUP_S), **({"NER_SASL_PASSWORD": secret} if secret else {})}
        args = worker_args(broker.bootstrap, names, f"g-{uuid.uuid4().hex[:6]}", *flags)
        out[name] = (WorkerProcess(args, tmp / f"{name}.log", env=env), secret)
    result = {}
    for name, (proc, secret) in out.items():
        try:
            status = proc.wait_exit(STARTUP_S + 90)  # + loading the model
        finally:
            proc.close()
        result[name] = (proc, secret, status, time.monotonic() - started)
    return result


def _failure_line(proc) -> str:
    lines = [line for line in proc.log_text().splitlines() if "kafka.worker_failed" in line]
    assert len(lines) == 1, proc.log_text()[-3000:]
    return lines[0]


@pytest.mark.parametrize(("case", "error", "cause"), [
    ("wrong_password", "AuthenticationError", "Authentication failed"),
    ("untrusted_ca", "AuthenticationError", "certificate verify failed"),
    ("expired_certificate", "AuthenticationError", "expired on"),
])
def test_a_refused_worker_exits_within_the_timeout_naming_the_cause_never_the_secret(refused, case, error, cause):
    proc, secret, status, seconds = refused[case]
    assert status == EXIT_STAGE_ERROR, proc.log_text()[-3000:]
    line = _failure_line(proc)
    assert f"error={error}" in line and cause in line, line
    assert f"User:{USER} " in line or f"User:CN={USER} " in line, line  # the principal
    assert seconds < STARTUP_S + 90
    log = proc.log_text()
    if secret:
        assert secret not in log
    assert len(log.splitlines()) < 40, log[-3000:]  # no line per retry
