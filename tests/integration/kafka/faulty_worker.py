"""Test-only launcher: ``ner-stage worker`` whose redactor raises ``RuntimeError`` for every
document, to show that a bug in our own code stops the worker instead of dead-lettering the
stream (test_worker_errors.py). It lives under tests/ and patches the class in this process
only, so nothing in the installed product can switch the fault on.

    python -m tests.integration.kafka.faulty_worker worker --bootstrap ... (the worker's flags)
"""

from __future__ import annotations

from pipeline.cli.main import main
from pipeline.redact.redactor import Redactor


def _broken_redact_spans(self, text, model_spans, policy=None):
    raise RuntimeError(f"injected fault: redactor bug on a {len(text)}-character text")


def _broken_detections(self, text, model_spans):  # the record view's path for multi-field records
    raise RuntimeError(f"injected fault: redactor bug on a {len(text)}-character text")


if __name__ == "__main__":
    Redactor.redact_spans = _broken_redact_spans
    Redactor.detections = _broken_detections
    main()
