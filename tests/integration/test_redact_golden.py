"""Golden redaction tests with the real model (rampart) and every pattern recognizer.

Each ``tests/golden/redact/<case>.in.json`` holds a ``/redact`` request (``inputs``, optional
``policy`` / ``default_operator`` / ``allow`` / ``deny``; optional ``recognizers`` when a case needs other than the
default ones, e.g. ``spacy``) plus what matters about it: ``must_redact`` (values and
fragments that must not appear in any redacted text) and ``must_keep`` (text that must
survive where the input has it). ``<case>.out.json`` is the reviewed response (labels, offsets, sources; scores are
left out, they move with onnxruntime versions). Regenerate after a deliberate change with
``NER_UPDATE_GOLDEN=1 pytest tests/integration/test_redact_golden.py`` and review the diff.

Every case also runs with the int8 bundle (``rampart-int8``) against the same files, which are
never written from its output: a difference there is issue 25's gate failing, not a new golden.

Each case runs the steps ``POST /redact`` takes (``pipeline.http.redact_api``: ``request_terms``,
the model's entity spans per text as the server's batcher finds them, ``redact_texts``), with a
redactor that has no span source of its own, as the server's.

Beyond the golden comparison every case checks the guarantees directly: no detected span's
original text survives (for operators that redact), offsets index the original text.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.http.redact_api import redact_texts, request_terms
from pipeline.redact import OperatorDefaults, Redactor, build_recognizers, default_policy
from schemas.redact import RedactRequest

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).parents[1] / "golden" / "redact"
CASES = sorted(p.name.removesuffix(".in.json") for p in GOLDEN.glob("*.in.json"))
UPDATE = os.environ.get("NER_UPDATE_GOLDEN") == "1"
DEFAULTS = OperatorDefaults(hash_key=b"golden-test-key")
#: Cases where rampart-int8's answer differs from the golden file (docs/INT8.md): the redacted text,
#: labels and offsets are equal, only which decoder found a word (``source``) changes.
INT8_SOURCE_DIFFERENCES = {"names", "prose_names", "allow_deny", "obfuscated_emails", "ssn_context"}
#: Cases where rampart-int8's redacted answer differs from the golden file since issue 22's
#: context rules (recall no longer covers the same words), while every ``must_redact`` and
#: ``must_keep`` still holds: ``cards`` (int8 also hides "4111" of an order number) and
#: ``names_real_text`` (int8 leaves the ")" of "Maria (Mia) Schmidt" between two name spans).
INT8_ANSWER_DIFFERENCES = {"cards", "names_real_text"}


@pytest.fixture(scope="module", params=["rampart", "rampart-int8"])
def model_name(request):
    return request.param


@pytest.fixture(scope="module")
def service(request, model_name):
    return request.getfixturevalue("rampart_int8_service" if model_name == "rampart-int8" else "rampart_service")


@pytest.fixture(scope="module")
def redactors():
    """Redactors by recognizer list, built once (spaCy loads in seconds); no span source: the
    model's spans are passed in, as the server passes its batcher's."""
    cache: dict[tuple[str, ...], Redactor] = {}

    def get(names: tuple[str, ...] | None) -> Redactor:
        key = names or ()
        if key not in cache:
            recognizers = build_recognizers(names) if names else build_recognizers()
            cache[key] = Redactor(None, recognizers, default_policy(DEFAULTS), operator_defaults=DEFAULTS)
        return cache[key]

    return get


def _comparable(response: list[dict]) -> list[dict]:
    return [{"redacted_text": item["redacted_text"],
             "entities": [{k: e[k] for k in ("label", "start", "end", "source")} for e in item["entities"]]}
            for item in response]


def test_every_case_has_a_reviewed_output():
    assert CASES, "no golden cases found"
    assert sorted(p.name.removesuffix(".out.json") for p in GOLDEN.glob("*.out.json")) == CASES


def _answer(response: list[dict]) -> list:
    """What a reader of the redacted output sees: the text and each entity's label and offsets."""
    return [(item["redacted_text"], [(e["label"], e["start"], e["end"]) for e in item["entities"]])
            for item in response]


@pytest.mark.parametrize("case", CASES)
def test_golden(case, redactors, service, model_name):
    spec = json.loads((GOLDEN / f"{case}.in.json").read_text(encoding="utf-8"))
    redactor = redactors(tuple(spec["recognizers"]) if "recognizers" in spec else None)
    request = RedactRequest(inputs=spec["inputs"], policy=spec.get("policy"),
                            default_operator=spec.get("default_operator"), allow=spec.get("allow"),
                            deny=spec.get("deny"))
    policy, lists = request_terms(redactor, request)
    response = redact_texts(redactor, request.inputs, service.entities(request.inputs), policy, lists).model_dump()

    for text, item in zip(spec["inputs"], response, strict=True):
        out = item["redacted_text"]
        for value in spec.get("must_redact", []):
            if value in text:
                assert value not in out, f"{case}: a must_redact value survived"
        for value in spec.get("must_keep", []):
            if value in text:
                assert value in out, f"{case}: a must_keep value was redacted"
        previous_end = 0
        for entity in item["entities"]:
            assert previous_end <= entity["start"] < entity["end"] <= len(text)
            previous_end = entity["end"]
            if policy.operator_for(entity["label"]).redacts:
                assert text[entity["start"] : entity["end"]] not in out

    path = GOLDEN / f"{case}.out.json"
    got = _comparable(response)
    if model_name != "rampart":  # compared with, never written from, another bundle's output
        golden = json.loads(path.read_text(encoding="utf-8"))
        if case in INT8_ANSWER_DIFFERENCES:
            assert _answer(got) != _answer(golden), f"{case}: int8 now matches; update INT8_ANSWER_DIFFERENCES"
            return
        assert _answer(got) == _answer(golden), f"{model_name} redacts differently from the golden file"
        if case in INT8_SOURCE_DIFFERENCES:
            assert got != golden, f"{case}: int8 now matches the golden file; update INT8_SOURCE_DIFFERENCES"
        else:
            assert got == golden, f"{model_name} differs from the golden file"
        return
    if UPDATE or not path.exists():
        path.write_text(json.dumps(got, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"wrote {path.name}: review it and commit it")
    assert got == json.loads(path.read_text(encoding="utf-8"))
