"""The /redact router in-process (no sockets): binding a redactor, the app-state lookup, 503.

The real app and real HTTP on loopback are in tests/integration/test_redact_http.py.
"""

from __future__ import annotations

from types import SimpleNamespace

from fastapi import FastAPI
from fastapi.testclient import TestClient

from pipeline.redact import Redactor, build_recognizers
from pipeline.redact.http import create_router, get_redactor, router
from pipeline.spans import Entity


class NameSource:
    def entities(self, texts):
        return [[Entity("GIVEN_NAME", 0, 5, 0.9)] if t.startswith("Maria") else [] for t in texts]


def _post(app: FastAPI, body: dict):
    with TestClient(app) as client:
        return client.post("/redact", json=body)


def test_a_router_bound_to_a_redactor():
    app = FastAPI()
    app.include_router(create_router(Redactor(NameSource(), build_recognizers())))
    response = _post(app, {"inputs": ["Maria: maria@example.com", "nothing"]})
    assert response.status_code == 200
    assert response.json() == [
        {"redacted_text": "<GIVEN_NAME>: <EMAIL>",
         "entities": [{"label": "GIVEN_NAME", "start": 0, "end": 5, "score": 0.9, "source": "model"},
                      {"label": "EMAIL", "start": 7, "end": 24, "score": 0.95, "source": "pattern:email"}]},
        {"redacted_text": "nothing", "entities": []},
    ]


def test_a_router_bound_to_a_factory_and_a_single_string_input():
    app = FastAPI()
    app.include_router(create_router(lambda: Redactor(None, build_recognizers(["email"]))))
    response = _post(app, {"inputs": "a@example.com", "policy": {"EMAIL": {"type": "mask", "keep_last": 4}}})
    assert response.json()[0]["redacted_text"] == "*********.com"


def test_the_default_router_uses_app_state_or_builds_over_the_servers_service():
    app = FastAPI()
    app.include_router(router)
    assert _post(app, {"inputs": ["Maria"]}).status_code == 503
    app.state.ner = SimpleNamespace(service=NameSource())
    assert _post(app, {"inputs": ["Maria"]}).json()[0]["redacted_text"] == "<GIVEN_NAME>"
    assert isinstance(app.state.redactor, Redactor)  # built once, then reused
    app.dependency_overrides[get_redactor] = lambda: Redactor(None)
    assert _post(app, {"inputs": ["Maria"]}).json()[0]["redacted_text"] == "Maria"


def test_request_bodies_are_validated():
    app = FastAPI()
    app.include_router(create_router(Redactor(None)))
    assert _post(app, {"inputs": []}).status_code == 422
    assert _post(app, {"inputs": ["x"], "unknown": 1}).status_code == 422
