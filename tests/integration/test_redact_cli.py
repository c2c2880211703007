"""``ner-stage redact`` and ``ner-stage bench redact`` as a user runs them (subprocess, real model)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

NER_STAGE = str(Path(sys.executable).with_name("ner-stage"))
TEXTS = ["Call Maria Garcia at +1 (415) 555-0132 or maria.garcia@example.com.",
         "Zoë Müller, IBAN DE89 3704 0044 0532 0130 00, SSN 123-45-6789"]
SECRETS = ["Maria", "Garcia", "+1 (415) 555-0132", "maria.garcia@example.com", "Zoë", "Müller",
           "DE89 3704 0044 0532 0130 00", "123-45-6789"]


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([NER_STAGE, *args], capture_output=True, text=True, timeout=120, check=False,
                          env=env)


def _check(items: list, texts: list[str]) -> None:
    assert len(items) == len(texts)
    for text, item in zip(texts, items, strict=True):
        assert set(item) == {"redacted_text", "entities"}
        for entity in item["entities"]:
            assert text[entity["start"] : entity["end"]] not in item["redacted_text"]
    for value in SECRETS:
        assert all(value not in item["redacted_text"] for item in items)


def test_redact_texts_and_file(tmp_path):
    args = run("redact", *TEXTS, "--threads", "1")
    assert args.returncode == 0, args.stderr
    _check(json.loads(args.stdout), TEXTS)
    for value in SECRETS:
        assert value not in args.stderr  # nothing about the documents in the logs

    file = tmp_path / "docs.jsonl"
    file.write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    from_file = run("redact", "--file", str(file), "--threads", "1", "--policy", '{"SSN": "keep", "US_SSN": "keep"}')
    assert from_file.returncode == 0, from_file.stderr
    items = json.loads(from_file.stdout)
    assert "123-45-6789" in items[1]["redacted_text"]  # kept by the policy override
    assert items[0]["redacted_text"] == json.loads(args.stdout)[0]["redacted_text"]


def test_redact_usage_errors():
    both = run("redact", "text", "--file", __file__)
    assert both.returncode != 0 and "not both" in both.stderr
    bad = run("redact", "x", "--no-model-spans", "--policy", '{"EMAIL": "shred"}')
    assert bad.returncode != 0 and "unknown operator" in bad.stderr


def test_bench_redact_runs_and_reports_leak_rates(tmp_path):
    bench = run("bench", "redact", "--docs", "12", "--no-baseline", "--threads", "1", "--out", str(tmp_path))
    assert bench.returncode == 0, bench.stderr
    result = json.loads((tmp_path / "redact.json").read_text())
    ours = result["systems"]["ner-stage"]
    assert ours["docs_per_s"] > 0
    assert set(ours["types"]) == {"name", "email", "phone", "card", "iban", "ssn", "address", "ip"}
    assert "leak" in bench.stdout and "docs/s" in bench.stdout
