"""Golden parity: our decoder == transformers' pipeline post-processing on the same logits.

The files are produced by scripts/make_golden.py (needs transformers); this test needs neither
torch nor transformers: it decodes the stored logits and compares spans, labels and scores.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from engines.bundle import load_bundle
from pipeline.decode import aggregate, softmax
from pipeline.service import AGGREGATIONS, NerService, PredictOptions
from tests.fakes import FakeEngine

GOLDEN = sorted((Path(__file__).resolve().parents[2] / "golden" / "aggregation").glob("*.json"))


@pytest.fixture(scope="module")
def service():
    bundle = load_bundle()
    return NerService(bundle, FakeEngine(bundle.num_labels))


def test_golden_files_exist():
    assert len(GOLDEN) >= 10


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
@pytest.mark.parametrize("strategy", AGGREGATIONS)
def test_matches_transformers_pipeline(service, path, strategy):
    record = json.loads(path.read_text(encoding="utf-8"))
    (doc,) = service.encode([record["text"]])
    assert doc.ids.tolist() == record["ids"], "tokenization drifted from the golden file"
    logits = np.frombuffer(base64.b64decode(record["logits_f32_b64"]), dtype="<f4").reshape(record["shape"])
    got = aggregate(service.view(doc), softmax(logits), strategy, service.labels)
    expected = record["expected"][strategy]
    assert [(p.label, p.start, p.end) for p in got] == [(e["label"], e["start"], e["end"]) for e in expected]
    np.testing.assert_allclose([p.score for p in got], [e["score"] for e in expected], atol=1e-4)
    # our public path (items) carries the same spans when nothing is merged or thresholded
    if strategy != "none":
        items = service.items(doc, logits, PredictOptions(aggregation=strategy))
        assert [(i["start"], i["end"], next(iter(i["results"]))) for i in items] == [
            (e["start"], e["end"], e["label"]) for e in expected]
        assert all(i["token"] == record["text"][i["start"] : i["end"]] for i in items)
