"""``ner-stage bench kafka`` runs end to end on a few documents and writes consistent results.

The performance targets themselves are checked by running the benchmark (see its --help), not
here: this only proves the command works and that its end-to-end pass is correct.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_bench_kafka_small_run_writes_json_and_png(tmp_path):
    naive = "3" if importlib.util.find_spec("transformers") and importlib.util.find_spec("torch") else "0"
    out = subprocess.run(
        [sys.executable, "-m", "pipeline.cli.main", "bench", "kafka", "--docs", "40", "--naive-docs", naive,
         "--threads", "1", "--timeout", "180", "--compression-type", "gzip,none", "--records", "8",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads((tmp_path / "kafka.json").read_text())
    assert (tmp_path / "kafka.png").stat().st_size > 10_000
    assert result["docs"] == 40
    check = result["end_to_end_check"]
    # every document came back exactly once, with the answer the stage computes in process (model + redactor)
    assert check["entity_records"] == 40 and check["records_after_completion"] == 0
    assert check["spans_equal_in_process"] == 40
    rates = result["throughput_docs_per_s"]
    assert {"engine_only", "stage_compute", "kafka_end_to_end"} <= set(rates)
    assert result["ratios"]["end_to_end_vs_engine_only"] == pytest.approx(
        rates["kafka_end_to_end"] / rates["engine_only"])
    # one end-to-end pass per output codec: gzip's record batches cost a fraction of the bytes
    codecs = result["compression"]
    assert list(codecs) == ["gzip", "none"] and result["kafka_end_to_end_codec"] == "gzip"
    assert codecs["none"]["record_bytes"] <= codecs["none"]["wire_bytes"] < 1.2 * codecs["none"]["record_bytes"]
    assert codecs["gzip"]["wire_bytes"] < 0.6 * codecs["none"]["wire_bytes"]
    assert set(result["codec_cpu"]["codecs"]) == {"gzip", "none"}
    # the records case: 3 text fields in place vs joined envelope documents, both sides measured
    case = result["records_case"]
    assert case["records"] == 8 and set(case["in_place_vs_envelope"]) == {"compute", "end_to_end"}
    assert case["in_place_vs_envelope"]["compute"] == pytest.approx(
        case["docs_per_s"]["compute"]["in_place"] / case["docs_per_s"]["compute"]["envelope"])
    if naive != "0":
        assert result["naive_worker"]["extrapolated"] is True
        assert result["naive_worker"]["measured_docs"] == 3
        assert "speedup_vs_naive" in result["ratios"]
