"""``/predict_tokens`` over real HTTP: same answers as the service and the CLI, batching, limits."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys

import httpx
import orjson
import pytest

from pipeline.service import PredictOptions
from tests.integration.http.conftest import start_server

pytestmark = pytest.mark.integration

TEXTS = [
    "My name is John Smith and my email is john.smith@example.com",
    "Call Maria Garcia at +1 (415) 555-0199 tomorrow.",
    "",
    "Nothing to see here.",
]
#: The request from BEI's NER docs, verbatim (both forms the docs show).
BEI_EXAMPLES = [
    {"inputs": [["Apple is looking at buying U.K. startup for $1 billion"]], "truncate": True, "raw_scores": False,
     "aggregation_strategy": "max"},
    {"inputs": ["Apple is looking at buying U.K. startup for $1 billion"], "truncate": True, "raw_scores": False,
     "aggregation_strategy": "max"},
]


def _expected(service, texts, **options) -> list:
    return orjson.loads(orjson.dumps(service.predict(texts, PredictOptions(**options)),
                                     option=orjson.OPT_SERIALIZE_NUMPY))


@pytest.mark.parametrize("body, options", [
    ({}, {}),
    ({"raw_scores": True}, {"raw_scores": True}),
    ({"aggregation_strategy": "simple"}, {"aggregation": "simple"}),
    ({"aggregation_strategy": "first", "threshold": 0.6}, {"aggregation": "first", "threshold": 0.6}),
    ({"aggregation_strategy": "average", "merge_adjacent": True}, {"aggregation": "average", "merge_adjacent": True}),
    ({"aggregation_strategy": "max", "truncate": True, "truncation_direction": "Left"},
     {"aggregation": "max", "truncate": True, "truncation_direction": "Left"}),
])
def test_response_equals_the_service_output(live_server, rampart_service, body, options):
    long_text = "Please call Maria Garcia at the office tomorrow. " * 60  # several model windows
    texts = [*TEXTS, long_text]
    with live_server.client() as client:
        nested = client.post("/predict_tokens", json={"inputs": [[t] for t in texts], **body})
        flat = client.post("/predict_tokens", json={"inputs": texts, **body})
    assert nested.status_code == 200, nested.text
    expected = _expected(rampart_service, texts, **options)
    assert nested.json() == expected
    assert flat.json() == expected


def test_response_equals_the_cli_output(live_server):
    """Same flags, same answer (the CLI joins adjacent spans by default; BEI parity keeps the
    server's default off, so the request asks for it)."""
    text = TEXTS[0]
    cli = subprocess.run([sys.executable, "-m", "pipeline.cli.main", "predict", "--aggregation", "simple",
                          "--merge-adjacent", "--threads", "1", text],
                         capture_output=True, text=True, check=True, timeout=120)
    with live_server.client() as client:
        served = client.post("/predict_tokens", json={"inputs": [[text]], "aggregation_strategy": "simple",
                                                      "merge_adjacent": True}).json()
    printed = json.loads(cli.stdout)
    assert [[{k: v for k, v in i.items() if k != "results"} for i in doc] for doc in served] == \
        [[{k: v for k, v in i.items() if k != "results"} for i in doc] for doc in printed]
    for got, want in zip(served[0], printed[0], strict=True):
        assert got["results"].keys() == want["results"].keys()
        assert list(got["results"].values()) == pytest.approx(list(want["results"].values()), abs=1e-5)
    assert {text[i["start"]:i["end"]] for i in served[0]} >= {"John", "Smith", "john.smith@example.com"}


@pytest.mark.parametrize("example", BEI_EXAMPLES)
def test_bei_docs_example_is_accepted_as_is(live_server, rampart_service, example):
    with live_server.client() as client:
        response = client.post("/predict_tokens", content=json.dumps(example),
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    text = example["inputs"][0][0] if isinstance(example["inputs"][0], list) else example["inputs"][0]
    assert response.json() == _expected(rampart_service, [text], aggregation="max", truncate=True)


def _batch_histogram(metrics_text: str) -> tuple[float, float, float]:
    """(rounds, requests, rounds with exactly one request) from ner_batch_requests."""
    def value(pattern: str) -> float:
        match = re.search(pattern, metrics_text, re.M)
        return float(match.group(1)) if match else 0.0
    return (value(r"^ner_batch_requests_count (\S+)$"), value(r"^ner_batch_requests_sum (\S+)$"),
            value(r'^ner_batch_requests_bucket\{le="1\.0"\} (\S+)$'))


def test_concurrent_requests_equal_sequential_and_are_batched(live_server, rampart_service):
    texts = [f"Ticket {i}: {name} wrote from {name.split()[0].lower()}{i}@example.org about order {1000 + i}."
             for i, name in enumerate(["John Smith", "Maria Garcia", "Wei Chen", "Aisha Okafor"] * 25)]
    body = lambda t: {"inputs": [[t]], "aggregation_strategy": "simple"}  # noqa: E731
    with live_server.client() as client:
        sequential = [client.post("/predict_tokens", json=body(t)).json() for t in texts]
        before = _batch_histogram(client.get("/metrics").text)

    async def fire() -> list:
        limits = httpx.Limits(max_connections=len(texts), max_keepalive_connections=len(texts))
        async with httpx.AsyncClient(base_url=live_server.url, limits=limits, timeout=60) as client:
            responses = await asyncio.gather(*(client.post("/predict_tokens", json=body(t)) for t in texts))
        assert all(r.status_code == 200 for r in responses)
        return [r.json() for r in responses]

    concurrent = asyncio.run(fire())
    with live_server.client() as client:
        after = _batch_histogram(client.get("/metrics").text)
    for got, want in zip(concurrent, sequential, strict=True):
        assert [[(i["token"], i["start"], i["end"], list(i["results"])) for i in d] for d in got] == \
            [[(i["token"], i["start"], i["end"], list(i["results"])) for i in d] for d in want]
        for g, w in zip(got[0], want[0], strict=True):
            assert list(g["results"].values()) == pytest.approx(list(w["results"].values()), abs=1e-4)
    rounds, requests, singles = (a - b for a, b in zip(after, before, strict=True))
    assert requests == len(texts)
    assert rounds < len(texts) and singles < rounds, "batching never merged concurrent requests"
    assert requests / rounds > 1


@pytest.fixture(scope="module")
def strict_server(rampart_service, tmp_path_factory):
    """Small limits and API keys, to check every 4xx names the field and the limit."""
    with start_server(rampart_service, tmp_path_factory.mktemp("strict"), max_inputs=4, max_text_chars=500,
                      max_body_bytes=4096, api_keys=["key-one", "key-two"]) as srv:
        yield srv


AUTH = {"Authorization": "Bearer key-two"}


@pytest.mark.parametrize("body, status, field, limit", [
    ({"inputs": ["a"] * 5}, 413, "inputs", 4),
    ({"inputs": ["ok", "x" * 501]}, 413, "inputs[1]", 500),
    ({"inputs": ["x" * 5000]}, 413, "body", 4096),
    ({"inputs": ["a"], "threshold": 1.5}, 422, "threshold", 1.0),
    ({"inputs": ["a"], "truncation_direction": "Up"}, 422, "truncation_direction", "'Right' or 'Left'"),
    ({"inputs": ["a"], "aggregation_strategy": "best"}, 422, "aggregation_strategy",
     "'none', 'simple', 'first', 'average' or 'max'"),
    ({"inputs": [["a", "b"]]}, 422, "inputs[0]", 1),
    ({"inputs": ["a", 3]}, 422, "inputs[1]", None),
    ({"raw_scores": True}, 422, "inputs", None),
])
def test_client_errors_name_the_field_and_the_limit(strict_server, body, status, field, limit):
    with strict_server.client(headers=AUTH) as client:
        response = client.post("/predict_tokens", json=body)
    assert response.status_code == status, response.text
    doc = response.json()
    assert doc["field"] == field and doc["limit"] == limit
    assert field in doc["error"] or str(limit) in doc["error"]


def test_api_keys_guard_the_api_but_not_the_probes(strict_server):
    with strict_server.client() as client:
        missing = client.post("/predict_tokens", json={"inputs": ["a"]})
        wrong = client.post("/predict_tokens", json={"inputs": ["a"]}, headers={"Authorization": "Bearer nope"})
        good = client.post("/predict_tokens", json={"inputs": ["a"]}, headers=AUTH)
        probes = [client.get(p).status_code for p in ("/health", "/ready", "/metrics", "/docs", "/openapi.json")]
        info = client.get("/info", headers=AUTH).json()
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["field"] == "authorization"
    assert wrong.status_code == 403 and good.status_code == 200
    assert probes == [200] * 5
    assert info["model"] == "rampart" and info["max_inputs"] == 4 and "B-EMAIL" in info["labels"]


def test_redact_route_is_served_by_the_same_app(live_server):
    with live_server.client() as client:
        response = client.post("/redact", json={"inputs": ["Mail john.smith@example.com today"]})
    assert response.status_code == 200, response.text
    (item,) = response.json()
    assert "john.smith@example.com" not in item["redacted_text"]


def test_concurrent_redactions_go_through_the_batcher_and_equal_sequential(live_server):
    """/redact shares the dynamic batcher with /predict_tokens: concurrent calls merge into
    engine rounds (the batch histogram counts them) and answer exactly as sequential calls."""
    texts = [f"{name} ({name.split()[0].lower()}.{i}@example.org) called on {i}."
             for i, name in enumerate(["John Smith", "Maria Garcia", "Wei Chen", "Aisha Okafor"] * 10)]
    with live_server.client() as client:
        sequential = [client.post("/redact", json={"inputs": [t]}).json() for t in texts]
        before = _batch_histogram(client.get("/metrics").text)

    async def fire() -> list:
        limits = httpx.Limits(max_connections=len(texts), max_keepalive_connections=len(texts))
        async with httpx.AsyncClient(base_url=live_server.url, limits=limits, timeout=60) as client:
            responses = await asyncio.gather(*(client.post("/redact", json={"inputs": [t]}) for t in texts))
        assert all(r.status_code == 200 for r in responses)
        return [r.json() for r in responses]

    concurrent = asyncio.run(fire())
    with live_server.client() as client:
        after = _batch_histogram(client.get("/metrics").text)
    def exact(result: list) -> list:  # scores may move in the last bits with other batch padding
        return [(r["redacted_text"], [(e["label"], e["start"], e["end"], e["source"]) for e in r["entities"]])
                for r in result]
    for got, want in zip(concurrent, sequential, strict=True):
        assert exact(got) == exact(want)
        assert [e["score"] for e in got[0]["entities"]] == pytest.approx([e["score"] for e in want[0]["entities"]],
                                                                        abs=1e-4)
    assert all("<EMAIL>" in s[0]["redacted_text"] for s in sequential)
    rounds, requests, _ = (a - b for a, b in zip(after, before, strict=True))
    assert requests == len(texts)  # every redaction was an engine request through the batcher
    assert rounds < len(texts), "concurrent redactions never shared an engine call"
