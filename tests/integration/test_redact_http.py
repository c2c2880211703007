"""``POST /redact`` on the real app (``pipeline.http.app.create_app``) over real HTTP on loopback,
with the real model: the route awaits the server's batcher for model spans and redacts with ``redact_spans``.

Also checks the guarantee that neither document text nor redacted output reaches the logs.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from pipeline.http.app import create_app
from pipeline.http.settings import HttpSettings

pytestmark = pytest.mark.integration

TEXTS = [
    "Maria Garcia (maria.garcia@example.com) paid with 4111 1111 1111 1111.",
    "👍🏽 Zoë Müller — 电话 +44 20 7946 0958, IBAN GB82WEST12345698765432",
]
SECRETS = ["Maria", "Garcia", "maria.garcia@example.com", "4111 1111 1111 1111", "Zoë", "Müller",
           "+44 20 7946 0958", "GB82WEST12345698765432"]


@pytest.fixture(scope="module")
def server(rampart_service, tmp_path_factory) -> Iterator[str]:
    app = create_app(HttpSettings.load(jobs_db=tmp_path_factory.mktemp("redact") / "jobs.sqlite3"),
                     service=rampart_service)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="info", access_log=True, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


def test_redact_over_http(server, caplog, capfd):
    with caplog.at_level(logging.DEBUG), httpx.Client(base_url=server, timeout=60) as client:
        response = client.post("/redact", json={"inputs": TEXTS})
        masked = client.post("/redact", json={"inputs": TEXTS[0], "policy": {"CREDIT_CARD": {
            "type": "mask", "keep_last": 4}}})
    assert response.status_code == 200, response.text
    items = response.json()
    assert len(items) == len(TEXTS)
    for text, item in zip(TEXTS, items, strict=True):
        for entity in item["entities"]:
            assert set(entity) == {"label", "start", "end", "score", "source"}
            assert text[entity["start"] : entity["end"]] not in item["redacted_text"]
    assert items[0]["redacted_text"] == "<NAME> (<EMAIL>) paid with <CREDIT_CARD>."
    assert [e["label"] for e in items[1]["entities"]] == ["NAME", "PHONE", "IBAN"]
    first = items[1]["entities"][0]
    assert TEXTS[1][first["start"] : first["end"]] == "Zoë Müller"  # code-point offsets after an emoji
    for value in SECRETS:
        assert all(value not in item["redacted_text"] for item in items)
    assert masked.json()[0]["redacted_text"].endswith("***************1111.")
    # nothing about the documents, in or out, reaches the logs
    logs = caplog.text + "".join(capfd.readouterr())
    assert "/redact" in logs  # the access log did run
    for value in [*SECRETS, "<NAME>", "<CREDIT_CARD>"]:
        assert value not in logs


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"inputs": ["Maria"], "policy": {"EMAIL": "shred"}}, 422),
        ({"inputs": ["Maria"], "policy": {"EMAIL": "hash"}}, 422),  # no hash key configured on this server
        ({"inputs": ["Maria"], "default_operator": {"type": "mask", "char": "##"}}, 422),
        ({"inputs": []}, 422),
    ],
)
def test_invalid_requests_are_rejected_without_echoing_text(server, body, status):
    with httpx.Client(base_url=server, timeout=60) as client:
        response = client.post("/redact", json=body)
    assert response.status_code == status
    assert "Maria" not in response.text


def test_request_allow_and_deny_lists(server):
    """Issue 22: per-request allow/deny over HTTP; a pattern that could backtrack is a 422 naming
    the field, before the model runs."""
    text = "Maria Garcia met John Smith about Project Kestrel, ticket ZX-4471."
    with httpx.Client(base_url=server, timeout=60) as client:
        ok = client.post("/redact", json={"inputs": [text], "allow": ["Maria Garcia"],
                                          "deny": {"CODE_NAME": ["Project Kestrel", r"re:ZX-\d{4}"]}})
        bad = client.post("/redact", json={"inputs": [text], "allow": ["re:(a+)+$"]})
        bad_label = client.post("/redact", json={"inputs": [text], "deny": {"lower": ["x"]}})
    assert ok.status_code == 200, ok.text
    (item,) = ok.json()
    assert item["redacted_text"] == "Maria Garcia met <NAME> about <CODE_NAME>, ticket <CODE_NAME>."
    assert all("deny" in e["source"].split("+") for e in item["entities"] if e["label"] == "CODE_NAME")
    assert bad.status_code == 422 and "allow" in bad.text and "(a+)" not in bad.text
    assert bad_label.status_code == 422 and "deny" in bad_label.text
