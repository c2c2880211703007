"""Request bodies as the server validates them (parsed JSON, then the pydantic models): lone
surrogates replaced one-for-one, hostile nesting refused without recursion, echoable metadata,
no type coercion. The real-server behaviour is tests/integration/http/test_abuse_inputs.py."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from pipeline.http.errors import RequestInvalidError
from pipeline.http.limits import flatten_inputs
from schemas.http import MAX_METADATA_BYTES, AsyncPredictRequest, PredictRequest
from schemas.redact import RedactRequest
from schemas.text import MAX_SAFE_INT, inspect, replace_lone_surrogates


def test_lone_surrogates_are_replaced_everywhere_and_pairs_kept():
    value = json.loads('{"k\\ud800": ["a\\udfff", {"x": "\\ud83d\\ude00 ok"}], "n": 1}')  # a pair: one emoji
    out = replace_lone_surrogates(value)
    assert out == {"k\ufffd": ["a\ufffd", {"x": "\U0001f600 ok"}], "n": 1}
    clean = {"a": ["b", {"c": "d"}]}
    assert replace_lone_surrogates(clean) is clean  # nothing copied when nothing changes


def test_inspect_walks_any_depth_without_recursion():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    problem, _ = inspect(deep, root="x", max_depth=5)
    assert problem is not None and problem.field == "x[0][0][0][0][0]" and problem.limit == 5
    problem, lone = inspect({"a": [1.5, "\udc00"]}, root="m", max_depth=5, numbers=True)
    assert problem is None and lone
    for bad, field in (({"a": float("nan")}, "m.a"), ({"a": [0, MAX_SAFE_INT + 1]}, "m.a[1]")):
        problem, _ = inspect(bad, root="m", max_depth=5, numbers=True)
        assert problem is not None and problem.field == field


def _errors(model, raw: str) -> list[dict]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(json.loads(raw))
    return caught.value.errors()


@pytest.mark.parametrize("raw, loc_or_field", [
    ('{"inputs": ["a"], "raw_scores": "yes"}', ("raw_scores",)),
    ('{"inputs": ["a"], "merge_adjacent": 0}', ("merge_adjacent",)),
    ('{"inputs": ["a"], "threshold": "0.5"}', ("threshold",)),
    ('{"inputs": ["a"], "label_thresholds": {"EMAIL": NaN}}', ("label_thresholds", "EMAIL")),
    ('{"inputs": ["a"], "label_thresholds": {"EMAIL": -5}}', ("label_thresholds", "EMAIL")),
    ('{"inputs": ["a"], "label_thresholds": {"EMAIL": 1e400}}', ("label_thresholds", "EMAIL")),
    ('{"inputs": ["a"], "raw_scores": true, "aggregation_strategy": "max"}', "raw_scores"),
])
def test_predict_bodies_are_strict(raw, loc_or_field):
    (first, *_) = _errors(PredictRequest, raw)
    got = first.get("ctx", {}).get("field") if isinstance(loc_or_field, str) else first["loc"]
    assert got == loc_or_field, first


@pytest.mark.parametrize("metadata, field", [
    ('{"n": 123456789012345678901234567890}', "metadata.n"),
    ('{"a": ' * 17 + "1" + "}" * 17, "metadata" + ".a" * 16),
    ('{"s": "' + "x" * MAX_METADATA_BYTES + '"}', "metadata"),
])
def test_metadata_must_be_echoable(metadata, field):
    (first,) = _errors(AsyncPredictRequest, '{"inputs": ["a"], "metadata": ' + metadata + "}")
    assert first["ctx"]["field"] == field


def test_valid_bodies_keep_their_values():
    body = AsyncPredictRequest.model_validate(json.loads(
        '{"inputs": [["x \\ud800 y"]], "threshold": 1, "label_thresholds": {"EMAIL": 0}, '
        '"metadata": {"ids": [9007199254740991], "k": {"v": [null, true, 0.25]}}}'))
    assert body.inputs == [["x \ufffd y"]] and body.threshold == 1.0 and body.label_thresholds == {"EMAIL": 0.0}
    assert body.metadata == {"ids": [9007199254740991], "k": {"v": [None, True, 0.25]}}
    assert RedactRequest.model_validate({"inputs": "a\udfffb", "policy": {"EMAIL": "mask"}}).inputs == ["a\ufffdb"]


def test_inputs_flatten_from_every_shape_and_refuse_text_pairs():
    """``flatten_inputs`` is the one unpacking of ``inputs`` (sync route, async jobs, ``POST /``)."""
    assert flatten_inputs("a") == ["a"]
    assert flatten_inputs(["a", "b"]) == ["a", "b"]
    assert flatten_inputs([["a"], ["b"]]) == ["a", "b"]
    with pytest.raises(RequestInvalidError) as info:
        flatten_inputs([["a"], ["b", "c"]])
    assert (info.value.field, info.value.limit) == ("inputs[1]", 1)
