"""``POST /`` (Hugging Face Inference API) and ``GET /`` (the viewer page) in-process, on a fake
engine: the pipeline-shaped answer is ``/predict_tokens``'s spans, refusals name the field, and
the page is self-contained. The real model, real clients and a real browser are in
tests/integration/http/test_clients.py and test_viewer.py."""

from __future__ import annotations

import base64
import hashlib
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from engines.bundle import load_bundle
from pipeline.http.app import create_app
from pipeline.http.settings import HttpSettings
from pipeline.service import NerService
from tests.fakes import FakeEngine

TEXTS = ["My name is John Smith and I live in Springfield", "Write to ana@example.org today", ""]


@pytest.fixture(scope="module")
def service():
    bundle = load_bundle()
    return NerService(bundle, FakeEngine(bundle.num_labels))


@pytest.fixture(scope="module")
def client(service):
    with TestClient(create_app(HttpSettings.load(jobs_db=":memory:", max_text_chars=80), service=service)) as c:
        yield c


@pytest.mark.parametrize("strategy", ["simple", "first", "average", "max"])
def test_spans_are_predict_tokens_spans_in_the_pipeline_shape(client, strategy):
    got = client.post("/", json={"inputs": TEXTS, "parameters": {"aggregation_strategy": strategy}}).json()
    bei = client.post("/predict_tokens", json={"inputs": TEXTS, "aggregation_strategy": strategy}).json()
    assert got == [[{"entity_group": label, "score": pytest.approx(score), "word": i["token"], "start": i["start"],
                     "end": i["end"]} for i in doc for label, score in i["results"].items()] for doc in bei]
    assert any(got), "the fake engine should produce some spans"


def test_none_reports_each_non_ignored_token_with_its_index(client, service):
    got = client.post("/", json={"inputs": TEXTS[0]}).json()  # one string -> a flat list
    tokens = client.post("/predict_tokens", json={"inputs": [TEXTS[0]]}).json()[0]
    want = []
    for index, item in enumerate(tokens):
        scores = [item["results"][label] for label in service.labels]
        best = int(np.argmax(scores))
        if service.labels[best] != "O":
            want.append({"entity": service.labels[best], "score": pytest.approx(scores[best], abs=1e-6),
                         "index": index + 1, "word": item["token"], "start": item["start"], "end": item["end"]})
    assert got == want and got
    kept = client.post("/", json={"inputs": TEXTS[0], "parameters": {"ignore_labels": ["O", got[0]["entity"]]}})
    assert kept.json() == [e for e in got if e["entity"] != got[0]["entity"]]


@pytest.mark.parametrize("body, status, field, limit", [
    ({"inputs": "a", "parameters": {"top_k": 1}}, 422, "parameters.top_k", None),
    ({"inputs": "a", "parameters": {"aggregation_strategy": "all"}}, 422, "parameters.aggregation_strategy", None),
    ({"inputs": "a", "parameters": {"stride": 10_000}}, 422, "parameters.stride", 255),
    ({"inputs": "a", "extra": True}, 422, "extra", None),
    ({"inputs": 5}, 422, "inputs", None),
    ({"inputs": []}, 422, "inputs", None),
    ({"inputs": "x" * 81}, 413, "inputs", 80),
    ({"inputs": ["a", "x" * 81]}, 413, "inputs[1]", 80),
])
def test_refusals_name_the_field(client, body, status, field, limit):
    resp = client.post("/", json=body)
    assert resp.status_code == status, resp.text
    assert resp.json()["field"] == field
    if limit is not None:
        assert resp.json()["limit"] == limit


def test_the_page_is_self_contained_and_its_policy_allows_exactly_its_blocks(client):
    resp = client.get("/")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    html = resp.text
    assert 'data-auth="false"' in html
    csp = resp.headers["content-security-policy"]
    for tag in ("script", "style"):
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
        assert len(blocks) == 1
        digest = base64.b64encode(hashlib.sha256(blocks[0].encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in csp
    assert "connect-src 'self'" in csp and "default-src 'none'" in csp
    assert not re.search(r"""(src|href)\s*=|@import|url\(|https?://""", html), "the page must load nothing"


def test_with_keys_the_page_is_open_and_the_api_is_not(service):
    settings = HttpSettings.load(jobs_db=":memory:", api_keys=["k"])
    with TestClient(create_app(settings, service=service)) as c:
        page = c.get("/")
        anonymous = c.post("/", json={"inputs": "a"})
        keyed = c.post("/", json={"inputs": "a"}, headers={"Authorization": "Bearer k"})
    assert page.status_code == 200 and 'data-auth="true"' in page.text
    assert anonymous.status_code == 401 and anonymous.json()["field"] == "authorization"
    assert keyed.status_code == 200
