"""KAFKA_CONTRACTS.md's record-view examples are run, not just shown: each
``<!-- example: NAME command -->`` block is executed (``ner-stage`` -> this checkout's CLI, with
the real model) on the ``ticket input`` block written to ``tickets.jsonl``, and its stdout must
equal the ``NAME output`` block (scores to 1e-3: CPUs differ in the last digits)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "KAFKA_CONTRACTS.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"<!-- example: (\S+) (input|command|output) -->\s*\n```\w*\n(.*?)^```", re.S | re.M)
EXAMPLES: dict[str, dict[str, str]] = {}
for _name, _kind, _body in BLOCK.findall(DOC):
    EXAMPLES.setdefault(_name, {})[_kind] = _body.strip()


def _same(got, want, where="$"):
    if isinstance(want, float):
        assert got == pytest.approx(want, abs=1e-3), where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), where
        for key in want:
            _same(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert got == want, where


def test_the_contract_has_runnable_examples():
    assert "input" in EXAMPLES["ticket"] and {n for n, e in EXAMPLES.items() if "command" in e} >= {
        "ticket", "ticket-entities"}


@pytest.mark.parametrize("name", sorted(n for n, e in EXAMPLES.items() if "command" in e))
def test_example(name, tmp_path):
    (tmp_path / "tickets.jsonl").write_text(EXAMPLES["ticket"]["input"] + "\n", encoding="utf-8")
    words = shlex.split(EXAMPLES[name]["command"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("NER_")}
    while "=" in words[0]:
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    assert words[0] == "ner-stage"
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-m", "pipeline.cli.main", *words[1:], "--threads", "1"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    _same(json.loads(done.stdout), json.loads(EXAMPLES[name]["output"]))
