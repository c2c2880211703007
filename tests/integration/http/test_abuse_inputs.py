"""Hostile bodies, paths and credentials against a real server with the real model: every answer
is a JSON body in the ``{error, error_type, field, limit}`` shape (never a bare 500), lone
surrogates become U+FFFD with offsets unchanged on every route, metadata must be echoable, types
are not coerced, and nothing is parsed (or redirected) before the API key is checked. The
attacks are issue 13's; the slow-client ones are in test_abuse_connections.py."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.integration.http.conftest import start_server, wait_job

pytestmark = pytest.mark.integration

SURROGATE = "Hi \ud800 John Smith, mail john.smith@example.com \udfff now"
REPLACED = SURROGATE.replace("\ud800", "\ufffd").replace("\udfff", "\ufffd")


def _json_with_surrogates(doc) -> bytes:
    """JSON text spelling lone surrogates as escapes (``json.dumps`` escapes every non-ASCII character)."""
    encoded = json.dumps(doc).encode()
    assert b"\\ud800" in encoded or b"\\udfff" in encoded
    return encoded


def _post(client: httpx.Client, path: str, content: bytes) -> httpx.Response:
    return client.post(path, content=content, headers={"Content-Type": "application/json"})


def _error(response: httpx.Response, status: int, field: str | None, error_type: str = "validation") -> dict:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "error_type", "field", "limit"} and body["error"], body
    assert body["error_type"] == error_type, body
    if field is not None:
        assert body["field"] == field, body
    return body


# -- lone surrogates: U+FFFD, offsets unchanged, on every route ------------------------------

def test_sync_predict_replaces_lone_surrogates(live_server):
    body = _json_with_surrogates({"inputs": [SURROGATE], "aggregation_strategy": "first"})
    with live_server.client() as client:
        got = _post(client, "/predict_tokens", body)
        want = client.post("/predict_tokens", json={"inputs": [REPLACED], "aggregation_strategy": "first"})
    assert got.status_code == 200, got.text
    assert got.json() == want.json()
    items = got.json()[0]
    assert [(e["token"], e["start"]) for e in items if e["token"] in ("John", "Smith", "john")] == [
        ("John", SURROGATE.index("John")), ("Smith", SURROGATE.index("Smith")), ("john", SURROGATE.index("john"))]
    assert all(REPLACED[e["start"] : e["end"]] == e["token"] for e in items)


def test_async_predict_replaces_lone_surrogates_in_inputs_and_metadata(live_server):
    body = _json_with_surrogates({"inputs": [SURROGATE], "aggregation_strategy": "first",
                                  "metadata": {"note \ud800": "x \udfff y", "n": [1, 2.5, None, True]}})
    with live_server.client() as client:
        accepted = _post(client, "/async/predict_tokens", body)
        assert accepted.status_code == 202, accepted.text
        job = wait_job(client, accepted.json()["job_id"])
        want = client.post("/predict_tokens", json={"inputs": [REPLACED], "aggregation_strategy": "first"})
    assert job["status"] == "succeeded", job
    assert job["result"] == want.json()
    assert job["metadata"] == {"note \ufffd": "x \ufffd y", "n": [1, 2.5, None, True]}


def test_hugging_face_route_replaces_lone_surrogates(live_server):
    with live_server.client() as client:
        got = _post(client, "/", _json_with_surrogates({"inputs": SURROGATE,
                                                        "parameters": {"aggregation_strategy": "first"}}))
        want = client.post("/", json={"inputs": REPLACED, "parameters": {"aggregation_strategy": "first"}})
    assert got.status_code == 200, got.text
    assert got.json() == want.json() and got.json()
    assert all(REPLACED[e["start"] : e["end"]] == e["word"] for e in got.json())


def test_redact_replaces_lone_surrogates(live_server):
    text = "mail john@x.com \ud800 Maria Garcia"
    with live_server.client() as client:
        got = _post(client, "/redact", _json_with_surrogates({"inputs": [text]}))
        want = client.post("/redact", json={"inputs": [text.replace("\ud800", "\ufffd")]})
    assert got.status_code == 200, got.text
    assert got.json() == want.json()
    (item,) = got.json()
    assert "\ufffd" in item["redacted_text"] and "john@x.com" not in item["redacted_text"]
    assert {(e["start"], e["end"]) for e in item["entities"] if e["label"] == "EMAIL"} == {(5, 15)}


# -- metadata: echoable I-JSON, bounded ---------------------------------------------------

@pytest.mark.parametrize("metadata, field", [
    (b'{"n": 123456789012345678901234567890}', "metadata.n"),
    (b'{"list": [1, -99999999999999999999]}', "metadata.list[1]"),
    (b'{"x": NaN}', "metadata.x"),
    (b'{"x": {"y": 1e400}}', "metadata.x.y"),
    (b'{"a": ' * 300 + b"1" + b"}" * 300, None),
    (b'{"a": ' * 20 + b"1" + b"}" * 20, None),
    (b'{"big": "' + b"x" * 70_000 + b'"}', "metadata"),
])
def test_metadata_that_cannot_be_echoed_is_a_422_naming_the_field(live_server, metadata, field):
    with live_server.client() as client:
        response = _post(client, "/async/predict_tokens", b'{"inputs": ["a"], "metadata": ' + metadata + b"}")
    body = _error(response, 422, field)
    assert body["field"].startswith("metadata") and len(response.content) < 1000


def test_ordinary_metadata_is_echoed_exactly(live_server):
    metadata = {"batch": "42", "ids": [9007199254740991, -3], "nested": {"a": {"b": [0.5, None, False]}}}
    with live_server.client() as client:
        accepted = client.post("/async/predict_tokens", json={"inputs": ["John"], "metadata": metadata})
        assert accepted.status_code == 202, accepted.text
        job = wait_job(client, accepted.json()["job_id"])
    assert job["status"] == "succeeded" and job["metadata"] == metadata


# -- strict types, ranges and contradictions -----------------------------------------------

@pytest.mark.parametrize("extra, field", [
    (b'"raw_scores": "yes"', "raw_scores"),
    (b'"truncate": 1', "truncate"),
    (b'"threshold": "0.5"', "threshold"),
    (b'"threshold": NaN', "threshold"),
    (b'"label_thresholds": {"EMAIL": NaN}', "label_thresholds.EMAIL"),
    (b'"label_thresholds": {"EMAIL": -5}', "label_thresholds.EMAIL"),
    (b'"label_thresholds": {"EMAIL": 1e400}', "label_thresholds.EMAIL"),
    (b'"label_thresholds": {"EMAIL": 1.5}', "label_thresholds.EMAIL"),
    (b'"label_thresholds": {"EMAIL": "0.5"}', "label_thresholds.EMAIL"),
    (b'"raw_scores": true, "aggregation_strategy": "simple"', "raw_scores"),
])
def test_no_coercion_and_scores_in_range(live_server, extra, field):
    with live_server.client() as client:
        for path in ("/predict_tokens", "/async/predict_tokens"):
            _error(_post(client, path, b'{"inputs": ["Maria Garcia"], ' + extra + b"}"), 422, field)


@pytest.mark.parametrize("parameters, field", [
    (b'{"aggregation_strategy": 1}', "parameters.aggregation_strategy"),
    (b'{"stride": "8"}', "parameters.stride"),
    (b'{"ignore_labels": "O"}', "parameters.ignore_labels"),
])
def test_hugging_face_parameters_are_strict(live_server, parameters, field):
    with live_server.client() as client:
        _error(_post(client, "/", b'{"inputs": "Maria Garcia", "parameters": ' + parameters + b"}"), 422, field)


def test_label_thresholds_in_range_are_applied(live_server):
    with live_server.client() as client:
        loose = client.post("/predict_tokens", json={"inputs": [REPLACED], "aggregation_strategy": "first"})
        strict = client.post("/predict_tokens", json={"inputs": [REPLACED], "aggregation_strategy": "first",
                                                      "label_thresholds": {"EMAIL": 1.0}})
    def labels(response: httpx.Response) -> set[str]:
        return {label for item in response.json()[0] for label in item["results"]}
    assert "EMAIL" in labels(loose) and "EMAIL" not in labels(strict)
    assert labels(strict) == labels(loose) - {"EMAIL"}


# -- one shape for parse errors; short echoes -----------------------------------------------

@pytest.mark.parametrize("path", ["/predict_tokens", "/async/predict_tokens", "/redact", "/"])
def test_undecodable_bytes_and_malformed_json_get_the_same_answer(live_server, path):
    with live_server.client() as client:
        answers = [_post(client, path, content) for content in (
            b'{"inputs": ["caf\xe9 \xff"]}', b'{"inputs": ["a",', b"\xff\xfe", b"[" * 5000 + b"]" * 5000)]
    bodies = [_error(response, 422, "body") for response in answers[:3]]
    assert len({(b["error"], b["error_type"], b["field"]) for b in bodies}) == 1, bodies
    _error(answers[3], 422, None)  # parses, but nests deeper than any body may


def test_error_bodies_echo_no_more_than_a_short_prefix(live_server):
    long_id, long_key = "a" * 8000, "k" * 8000
    with live_server.client() as client:
        answers = [client.get(f"/jobs/{long_id}"), client.delete(f"/jobs/{long_id}"),
                   client.post("/predict_tokens", json={"inputs": ["a"], "label_thresholds": {long_key: 2}}),
                   client.post("/redact", json={"inputs": ["a"], "policy": {"EMAIL": long_key}})]
    for response, status in zip(answers, (404, 404, 422, 422), strict=True):
        _error(response, status, None, error_type=response.json()["error_type"])
        assert len(response.content) < 600 and "a" * 300 not in response.text and "k" * 300 not in response.text


# -- auth before the body; no redirects -----------------------------------------------------

@pytest.fixture(scope="module")
def keyed_server(rampart_service, tmp_path_factory):
    with start_server(rampart_service, tmp_path_factory.mktemp("keyed"), api_keys=["the-key"]) as srv:
        yield srv


def test_a_malformed_body_without_a_key_gets_401(keyed_server):
    with keyed_server.client() as client:
        for path in ("/predict_tokens", "/async/predict_tokens", "/redact", "/", "/nope"):
            response = _post(client, path, b'{"inputs": [')
            _error(response, 401, "authorization", "unauthorized")
            assert response.headers["www-authenticate"] == "Bearer"
        wrong = client.post("/predict_tokens", content=b"\xff", headers={"Authorization": "Bearer nope"})
        _error(wrong, 403, "authorization", "forbidden")


def test_no_redirects_with_or_without_a_key(keyed_server):
    with keyed_server.client(follow_redirects=False) as client:
        anonymous = client.post("/predict_tokens/", json={"inputs": ["a"]})
        keyed = client.post("/predict_tokens/", json={"inputs": ["a"]}, headers={"Authorization": "Bearer the-key"})
        get_keyed = client.get("/info/", headers={"Authorization": "Bearer the-key"})
        probes = [client.get(path).status_code for path in ("/health", "/ready", "/metrics", "/openapi.json", "/")]
    _error(anonymous, 401, "authorization", "unauthorized")
    _error(keyed, 404, "path", "http")
    _error(get_keyed, 404, "path", "http")
    assert probes == [200] * 5  # the open routes: probes, docs, the viewer page
