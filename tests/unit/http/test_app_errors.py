"""Error bodies of the app (in-process ASGI with a fake engine; the real server is tested in
tests/integration/http)."""

import pytest
from fastapi.testclient import TestClient

from engines.bundle import load_bundle
from pipeline.http.app import create_app
from pipeline.http.settings import HttpSettings
from pipeline.service import NerService
from tests.fakes import FakeEngine


@pytest.fixture(scope="module")
def client():
    bundle = load_bundle()
    service = NerService(bundle, FakeEngine(bundle.num_labels))
    settings = HttpSettings.load(jobs_db=":memory:", max_inputs=3, max_text_chars=50, max_body_bytes=2048)
    with TestClient(create_app(settings, service=service)) as c:
        yield c


@pytest.mark.parametrize("content, status, field, limit", [
    (b'{"inputs": ["a",', 422, "body", None),
    (b'{"inputs": ["a"], "label_thresholds": {"EMAIL": "high"}}', 422, "label_thresholds.EMAIL", None),
    (b'{"inputs": ["a"], "threshold": -1}', 422, "threshold", 0.0),
    (b'{"inputs": [["a"], "b"]}', 422, "inputs[1]", None),
    (b'{"inputs": {"text": "a"}}', 422, "inputs", None),
    (b'{"inputs": []}', 422, "inputs", 3),
    (b'{"inputs": "' + b"x" * 51 + b'"}', 413, "inputs[0]", 50),
    (b'{"inputs": ["' + b"x" * 3000 + b'"]}', 413, "body", 2048),
])
def test_4xx_bodies_name_the_field_and_the_limit(client, content, status, field, limit):
    response = client.post("/predict_tokens", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    body = response.json()
    assert body["field"] == field and body["limit"] == limit and body["error"] and body["error_type"]


def test_unknown_routes_and_methods(client):
    missing = client.get("/nope")
    wrong = client.get("/predict_tokens")
    assert missing.status_code == 404 and missing.json()["field"] == "path"
    assert wrong.status_code == 405 and wrong.json()["field"] == "method"


def test_callbacks_need_a_configured_secret(client):
    response = client.post("/async/predict_tokens", json={"inputs": ["a"], "callback_url": "https://example.com/"})
    assert response.status_code == 422 and response.json()["field"] == "callback_url"


def test_operational_routes(client):
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}
    client.post("/predict_tokens", json={"inputs": ["hello there"]})
    text = client.get("/metrics").text
    for name in ("ner_http_request_duration_seconds", "ner_batch_queue_depth", "ner_batch_requests",
                 "ner_batch_tokens", "ner_engine_seconds", "ner_http_errors_total"):
        assert name in text
    info = client.get("/info").json()
    assert info["engine"] == "fake" and info["max_inputs"] == 3


def test_bodies_without_a_json_content_type_are_read_as_json(client):
    form = client.post("/predict_tokens", content=b'{"inputs": ["hello"]}',
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    untyped = client.post("/predict_tokens", content=b'{"inputs": ["hello"]}', headers={"Content-Type": ""})
    assert form.status_code == 200 and untyped.status_code == 200
    assert form.json() == untyped.json() and len(form.json()) == 1


def test_unknown_body_keys_are_refused_naming_the_key(client):
    for route in ("/predict_tokens", "/async/predict_tokens"):
        response = client.post(route, json={"inputs": ["a"], "aggregation_stratgy": "max"})
        assert response.status_code == 422 and response.json()["field"] == "aggregation_stratgy", response.text


def test_requests_are_timed_under_their_route_whatever_the_content_type(client):
    def count(route: str) -> float:
        prefix = f'ner_http_request_duration_seconds_count{{route="{route}",status="200"}} '
        line = next((x for x in client.get("/metrics").text.splitlines() if x.startswith(prefix)), prefix + "0")
        return float(line.rsplit(" ", 1)[1])

    before = count("/predict_tokens")
    for content_type in ("application/x-www-form-urlencoded", "", "application/json"):  # curl -d sends the first
        assert client.post("/predict_tokens", content=b'{"inputs": ["hello"]}',
                           headers={"Content-Type": content_type}).status_code == 200
    assert count("/predict_tokens") == before + 3
    # answered before routing (the body limit): still its route
    assert client.post("/predict_tokens", content=b"x" * 4096).status_code == 413
    assert 'route="/predict_tokens",status="413"' in client.get("/metrics").text
