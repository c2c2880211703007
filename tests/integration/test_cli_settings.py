"""The generated settings surface as a user meets it (subprocess, real model): variables for what
used to be flag-only, ``--ignore-labels`` adding to ``O``, ``eval`` scoring what ships, and one
clear line (exit 2) for a bad variable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

NER_STAGE = str(Path(sys.executable).with_name("ner-stage"))
TEXT = "My name is John Smith and my email is john.smith@example.com"


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([NER_STAGE, *args, "--threads", "1"], capture_output=True, text=True, timeout=120,
                          check=False, env={**os.environ, **env})


def test_file_pretty_and_ignore_labels_come_from_variables_and_o_stays_ignored(tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"text": TEXT}) + "\n")
    out = run("predict", "--aggregation", "simple", NER_FILE=str(docs), NER_PRETTY="true",
              NER_IGNORE_LABELS='["SURNAME"]')
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("[\n")  # indented: NER_PRETTY reached the command
    labels = {label for item in json.loads(out.stdout)[0] for label in item["results"]}
    assert "GIVEN_NAME" in labels and "SURNAME" not in labels and "O" not in labels, labels


def test_eval_scores_the_published_spans_by_default(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text(json.dumps({"text": TEXT, "spans": [{"start": 11, "end": 21, "label": "NAME"},
                                                         {"start": 38, "end": 60, "label": "EMAIL"}]}) + "\n")
    published = run("eval", str(gold), "--json")
    model = run("eval", str(gold), "--json", "--spans", "model")
    assert published.returncode == 0 and model.returncode == 0, published.stderr + model.stderr
    # the worker publishes one merged NAME for "John Smith"; the model alone finds its two parts
    assert json.loads(published.stdout)["per_label"]["NAME"]["tp"] == 1
    assert json.loads(model.stdout)["per_label"]["NAME"]["tp"] == 0


def test_a_variable_that_is_not_json_is_one_line_and_exit_2():
    out = run("predict", TEXT, NER_LABEL_THRESHOLDS="nope")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip() == 'error: NER_LABEL_THRESHOLDS: expected a JSON object, e.g. {"KEY": 0.8}'
