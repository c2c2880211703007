"""The clients people already use, against a real server: Baseten's ``PerformanceClient`` on
``/predict_tokens`` and ``huggingface_hub.InferenceClient`` on ``POST /`` (the Hugging Face
Inference API), compared with ``ner-stage predict``."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import numpy as np
import orjson
import pytest
from baseten_performance_client import PerformanceClient, RequestProcessingPreference
from huggingface_hub import InferenceClient
from huggingface_hub.errors import HfHubHTTPError

from pipeline.service import AGGREGATIONS, PredictOptions
from tests.integration.http.conftest import start_server

pytestmark = pytest.mark.integration

TEXTS = [
    "My name is John Smith",
    "Email maria.garcia@example.com or call +1 (415) 555-0199, Maria Garcia, 42 Market Street, Springfield.",
    "Nothing to see here.",
]
STRATEGIES = AGGREGATIONS
KEY = "client-test-key"


@pytest.fixture(scope="module")
def cli_outputs() -> dict[str, list]:
    """``ner-stage predict --aggregation X --no-merge-adjacent`` for every strategy (one process each)."""
    out = {}
    for strategy in STRATEGIES:
        done = subprocess.run(
            [sys.executable, "-m", "pipeline.cli.main", "predict", "--aggregation", strategy, "--no-merge-adjacent",
             "--threads", "1", *TEXTS], capture_output=True, text=True, check=True, timeout=180)
        out[strategy] = json.loads(done.stdout)
    return out


@pytest.fixture(scope="module")
def auth_server(rampart_service, tmp_path_factory):
    with start_server(rampart_service, tmp_path_factory.mktemp("auth"), api_keys=[KEY], max_text_chars=200) as srv:
        yield srv


def _pipeline_view(cli_doc: list[dict], strategy: str, labels) -> list[dict]:
    """What the transformers pipeline reports, derived from the CLI's /predict_tokens items:
    spans as they are; with 'none', the argmax label of every token that is not 'O'."""
    if strategy != "none":
        return [{"entity_group": label, "score": score, "word": item["token"], "start": item["start"],
                 "end": item["end"]} for item in cli_doc for label, score in item["results"].items()]
    out = []
    for index, item in enumerate(cli_doc):
        scores = [item["results"][label] for label in labels]
        best = int(np.argmax(scores))
        if labels[best] != "O":
            out.append({"entity": labels[best], "score": scores[best], "index": index + 1, "word": item["token"],
                        "start": item["start"], "end": item["end"]})
    return out


def _as_dicts(elements) -> list[dict]:
    keys = ("entity", "entity_group", "score", "index", "word", "start", "end")
    return [{k: getattr(e, k) for k in keys if getattr(e, k, None) is not None} for e in elements]


def _same(got: list[dict], want: list[dict]) -> None:
    assert [{k: v for k, v in g.items() if k != "score"} for g in got] == \
        [{k: v for k, v in w.items() if k != "score"} for w in want]
    assert [g["score"] for g in got] == pytest.approx([w["score"] for w in want], abs=1e-5)


def test_inference_client_simple_matches_the_cli_on_the_issue_example(live_server, cli_outputs):
    """The issue's must-show: entity_group, start, end and word as `ner-stage predict`."""
    got = InferenceClient(model=live_server.url).token_classification("My name is John Smith",
                                                                       aggregation_strategy="simple")
    want = [(label, i["start"], i["end"], i["token"]) for i in cli_outputs["simple"][0] for label in i["results"]]
    assert [(e.entity_group, e.start, e.end, e.word) for e in got] == want
    assert {e.word for e in got} == {"John", "Smith"}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_inference_client_matches_the_cli_for_every_strategy(live_server, rampart_service, cli_outputs, strategy):
    client = InferenceClient(model=live_server.url)
    for i, text in enumerate(TEXTS):
        got = _as_dicts(client.token_classification(text, aggregation_strategy=strategy))
        want = _pipeline_view(cli_outputs[strategy][i], strategy, rampart_service.labels)
        _same(got, want)
    assert any(_as_dicts(client.token_classification(TEXTS[1], aggregation_strategy=strategy)))


def test_a_list_of_texts_gets_one_list_each_and_ignore_labels_applies(live_server):
    with live_server.client() as http:
        singles = [http.post("/", json={"inputs": t, "parameters": {"aggregation_strategy": "first"}}).json()
                   for t in TEXTS]
        batch = http.post("/", json={"inputs": TEXTS, "parameters": {"aggregation_strategy": "first"}})
        ignored = http.post("/", json={"inputs": TEXTS[1], "parameters": {"aggregation_strategy": "first",
                                                                           "ignore_labels": ["O", "EMAIL"]}}).json()
    assert batch.status_code == 200
    assert batch.json() == singles
    assert any(e["entity_group"] == "EMAIL" for e in singles[1])
    assert ignored == [e for e in singles[1] if e["entity_group"] != "EMAIL"]


def test_stride_reaches_the_windowing(live_server, rampart_service):
    """A long text split with the requested overlap answers as the service does with that stride."""
    text = "Please call Maria Garcia at maria@example.com tomorrow. " * 50
    with live_server.client() as http:
        got = http.post("/", json={"inputs": text, "parameters": {"aggregation_strategy": "max", "stride": 8}})
    assert got.status_code == 200, got.text
    want = rampart_service.predict([text], PredictOptions(aggregation="max", stride=8))[0]
    assert [(e["entity_group"], e["start"], e["end"]) for e in got.json()] == \
        [(label, i["start"], i["end"]) for i in want for label in i["results"]]
    assert len(rampart_service.encode([text], PredictOptions(stride=8))[0].windows) > 1


@pytest.mark.parametrize("body, field", [
    ({"inputs": "x", "parameters": {"aggregation_strategy": "simple", "top_k": 3}}, "parameters.top_k"),
    ({"inputs": "x", "parameters": {"aggregation_strategy": "grouped"}}, "parameters.aggregation_strategy"),
    ({"inputs": "x", "parameters": {"stride": -1}}, "parameters.stride"),
    ({"inputs": "x", "parameters": {"stride": 100000}}, "parameters.stride"),
    ({"inputs": "x", "parameters": {"ignore_labels": "O"}}, "parameters.ignore_labels"),
    ({"inputs": "x", "options": {"use_gpu": True}}, "options.use_gpu"),
    ({"inputs": "x", "model": "dslim/bert-base-NER"}, "model"),
    ({"text": "x"}, "inputs"),
    ({"inputs": ["x", 3]}, "inputs[1]"),
])
def test_what_we_do_not_do_is_a_422_naming_the_field(live_server, body, field):
    with live_server.client() as http:
        resp = http.post("/", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == field
    assert resp.json()["error"].startswith(field)


def test_legacy_options_are_accepted(live_server):
    with live_server.client() as http:
        resp = http.post("/", json={"inputs": TEXTS[0], "options": {"use_cache": False, "wait_for_model": True}})
    assert resp.status_code == 200
    assert {e["word"] for e in resp.json()} == {"john", "smith"}


def test_same_auth_limits_and_metrics_as_predict_tokens(auth_server, monkeypatch, tmp_path):
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))  # no stored token either
    with pytest.raises(HfHubHTTPError) as missing:
        InferenceClient(model=auth_server.url).token_classification(TEXTS[0])
    assert missing.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as wrong:
        InferenceClient(model=auth_server.url, api_key="not-the-key").token_classification(TEXTS[0])
    assert wrong.value.response.status_code == 403
    got = InferenceClient(model=auth_server.url, api_key=KEY).token_classification(
        TEXTS[0], aggregation_strategy="first")
    assert [e.entity_group for e in got] == ["GIVEN_NAME", "SURNAME"]
    headers = {"Authorization": f"Bearer {KEY}"}
    with auth_server.client(headers=headers) as http:
        long_one = http.post("/", json={"inputs": "a" * 201})
        long_many = http.post("/", json={"inputs": ["ok", "a" * 201]})
        metrics = httpx.get(f"{auth_server.url}/metrics").text
    assert long_one.status_code == 413
    assert (long_one.json()["field"], long_one.json()["limit"]) == ("inputs", 200)
    assert (long_many.json()["field"], long_many.json()["limit"]) == ("inputs[1]", 200)
    assert 'route="/",status="200"' in metrics
    assert 'route="/",status="413"' in metrics
    assert 'error_type="unauthorized"' in metrics


def test_performance_client_batch_post_on_predict_tokens(live_server, rampart_service):
    """Baseten's client: several payloads at once, each answered as the service answers it."""
    payloads = [{"inputs": [[t]], "aggregation_strategy": s} for t in TEXTS for s in ("none", "simple", "max")]
    payloads += [{"inputs": [[t] for t in TEXTS], "aggregation_strategy": "first", "merge_adjacent": True}]
    client = PerformanceClient(base_url=live_server.url, api_key="unused-without-auth")
    resp = client.batch_post("/predict_tokens", payloads,
                             preference=RequestProcessingPreference(max_concurrent_requests=8, timeout_s=120))
    assert len(resp.data) == len(payloads)
    for payload, got in zip(payloads, resp.data, strict=True):
        texts = [t[0] for t in payload["inputs"]]
        options = PredictOptions(aggregation=payload["aggregation_strategy"],
                                 merge_adjacent=payload.get("merge_adjacent", False))
        want = orjson.loads(orjson.dumps(rampart_service.predict(texts, options), option=orjson.OPT_SERIALIZE_NUMPY))
        assert [[{k: v for k, v in i.items() if k != "results"} for i in doc] for doc in got] == \
            [[{k: v for k, v in i.items() if k != "results"} for i in doc] for doc in want]
        for doc_got, doc_want in zip(got, want, strict=True):
            for a, b in zip(doc_got, doc_want, strict=True):
                assert a["results"].keys() == b["results"].keys()
                assert list(a["results"].values()) == pytest.approx(list(b["results"].values()), abs=1e-5)


def test_performance_client_carries_the_api_key(auth_server):
    payloads = [{"inputs": [[t]], "aggregation_strategy": "first"} for t in TEXTS]
    good = PerformanceClient(base_url=auth_server.url, api_key=KEY).batch_post("/predict_tokens", payloads)
    assert len(good.data) == len(payloads)
    assert [i["token"] for i in good.data[0][0]] == ["John", "Smith"]
    # the client raises its own requests-style HTTPError
    with pytest.raises(Exception, match="status 403") as refused:
        PerformanceClient(base_url=auth_server.url, api_key="wrong").batch_post(
            "/predict_tokens", payloads[:1], preference=RequestProcessingPreference(max_retries=0))
    assert type(refused.value).__name__ == "HTTPError"
    assert "the API key is not valid" in str(refused.value)
