"""The /redact router in-process (no sockets): a bound redactor, awaited model spans, pattern-only.

The real app and real HTTP on loopback are in tests/integration/test_redact_http.py.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipeline.http.redact_api import create_router
from pipeline.redact import Redactor, build_recognizers
from pipeline.spans import Entity


async def name_spans(_request, texts):
    return [[Entity("GIVEN_NAME", 0, 5, 0.9)] if t.startswith("Maria") else [] for t in texts]


def _post(app: FastAPI, body: dict):
    with TestClient(app) as client:
        return client.post("/redact", json=body)


def test_a_router_bound_to_a_redactor_and_a_model_span_finder():
    app = FastAPI()
    app.include_router(create_router(Redactor(None, build_recognizers()), name_spans))
    response = _post(app, {"inputs": ["Maria: maria@example.com", "nothing"]})
    assert response.status_code == 200
    assert response.json() == [
        {"redacted_text": "<GIVEN_NAME>: <EMAIL>",
         "entities": [{"label": "GIVEN_NAME", "start": 0, "end": 5, "score": 0.9, "source": "model"},
                      {"label": "EMAIL", "start": 7, "end": 24, "score": 0.95, "source": "pattern:email"}]},
        {"redacted_text": "nothing", "entities": []},
    ]


def test_large_bodies_are_redacted_off_the_event_loop_with_the_same_answer():
    app = FastAPI()
    app.include_router(create_router(Redactor(None, build_recognizers()), name_spans))
    texts = ["Maria " + "x" * 5000 + " maria@example.com", "Maria"]
    large = _post(app, {"inputs": texts}).json()
    small = [_post(app, {"inputs": [t]}).json()[0] for t in texts]
    assert large == small and large[0]["redacted_text"].startswith("<GIVEN_NAME>")


def test_a_router_bound_to_a_factory_without_model_spans_and_a_single_string_input():
    app = FastAPI()
    app.include_router(create_router(lambda: Redactor(None, build_recognizers(["email"]))))
    response = _post(app, {"inputs": "Maria a@example.com", "policy": {"EMAIL": {"type": "mask", "keep_last": 4}}})
    assert response.json()[0]["redacted_text"] == "Maria *********.com"


def test_request_bodies_are_validated():
    app = FastAPI()
    app.include_router(create_router(Redactor(None)))
    assert _post(app, {"inputs": []}).status_code == 422
    assert _post(app, {"inputs": ["x"], "unknown": 1}).status_code == 422
