"""The inference path end to end with the real default model (no broker, no HTTP)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pipeline.service import PredictOptions

pytestmark = pytest.mark.integration

EXAMPLE = "My name is John Smith and my email is john.smith@example.com"


def test_cli_predict_finds_name_and_email_with_exact_offsets():
    out = subprocess.run([sys.executable, "-m", "pipeline.cli.main", "predict", EXAMPLE],
                         capture_output=True, text=True, check=True, timeout=120)
    (items,) = json.loads(out.stdout)
    found = {EXAMPLE[i["start"] : i["end"]]: next(iter(i["results"])) for i in items}
    assert found["John"] == "GIVEN_NAME"
    assert found["Smith"] == "SURNAME"
    assert found["john.smith@example.com"] == "EMAIL"
    assert all(i["token"] == EXAMPLE[i["start"] : i["end"]] for i in items)


def test_cli_predict_reads_jsonl_and_reports_bad_lines(tmp_path):
    good = tmp_path / "in.jsonl"
    good.write_text(json.dumps({"text": EXAMPLE}) + "\n\n" + json.dumps({"text": ""}) + "\n")
    out = subprocess.run([sys.executable, "-m", "pipeline.cli.main", "predict", "--file", str(good)],
                         capture_output=True, text=True, check=True, timeout=120)
    result = json.loads(out.stdout)
    assert len(result) == 2 and result[1] == [] and len(result[0]) >= 3
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"txt": 1}\n')
    failed = subprocess.run([sys.executable, "-m", "pipeline.cli.main", "predict", "--file", str(bad)],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode != 0 and "line 2" in failed.stderr


def test_edge_inputs_have_defined_results(rampart_service):
    texts = ["", " \t\n ", "Bob \ud800 Dylan \udfff", ("John Smith lives here. " * 4500)[:100_000]]
    out = rampart_service.entities(texts)
    assert out[0] == [] and out[1] == []
    assert all(texts[2][e.start : e.end].strip() for e in out[2])
    long_ents = out[3]
    assert len(texts[3]) == 100_000
    # every repetition of the name is found: windowing covers the whole text
    names = [e for e in long_ents if texts[3][e.start : e.end] == "John"]
    assert len(names) >= 4300
    assert max(e.end for e in long_ents) > 99_000


def test_windowed_long_text_finds_every_repetition_at_exact_offsets(rampart_service):
    sentence = "Please call Maria Garcia at the office tomorrow. "
    long_text = sentence * 150  # ~1,700 tokens: several overlapping windows
    (ents,) = rampart_service.entities([long_text])
    size = len(sentence)
    names = {(e.label, e.start, e.end) for e in ents if e.label in ("GIVEN_NAME", "SURNAME")}
    expected = {(label, k * size + a, k * size + b) for k in range(150)
                for label, a, b in (("GIVEN_NAME", 12, 17), ("SURNAME", 18, 24))}
    assert names == expected


def test_truncation_keeps_requested_side(rampart_service):
    text = "John Smith " + "filler words here " * 400 + "Maria Garcia"
    (right,) = rampart_service.predict([text], PredictOptions(aggregation="first", truncate=True))
    (left,) = rampart_service.predict(
        [text], PredictOptions(aggregation="first", truncate=True, truncation_direction="Left"))
    assert right and max(i["end"] for i in right) < len(text) // 2
    assert left and min(i["start"] for i in left) > len(text) // 2


def test_spin_setting_reaches_onnxruntime_and_results_do_not_change(rampart_service):
    """`--no-spin` is a scheduling choice only: same logits, and ORT really got the option."""
    from pipeline.config import ModelSettings
    from pipeline.service import NerService

    quiet = NerService.from_settings(ModelSettings(spin=False, warmup=False))
    options = quiet.engine._session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    text = "My name is John Smith and my email is john.smith@example.com"
    assert quiet.predict([text]) == rampart_service.predict([text])
