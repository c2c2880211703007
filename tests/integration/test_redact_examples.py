"""The redaction the project shows people is exact: the README's ``ner-stage redact`` example
prints what the README says it prints, and the ``ner-stage run`` demo's sample documents lose
exactly their PII (issue 22: ``Call`` joined the name, ``IBAN`` became a street, ``Invoice
4471`` a ZIP code). Real model, default recognizers and settings."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.devtools.cli.run import SAMPLE_TEXTS
from pipeline.redact import Redactor, RedactSettings

pytestmark = pytest.mark.integration

README = Path(__file__).parents[2] / "README.md"
#: The demo's documents as they must come out (the long one repeats its sentence 30 times).
DEMO_REDACTED = [
    "My name is <NAME> and my email is <EMAIL>",
    "Call <NAME> on <PHONE> before Friday, or write to <EMAIL>.",
    "Dr. <NAME> moved to <ADDRESS>; his new number is <PHONE>.",
    "Invoice 4471 was paid by card <CREDIT_CARD> from IBAN <IBAN>.",
    "The quarterly report is attached. No personal data here, just numbers: 12, 40 and 7.",
    " ".join(["<NAME> reviewed the contract and asked <NAME> to reply to <EMAIL>."] * 30),
]


@pytest.fixture(scope="module")
def redactor(rampart_service):
    return Redactor.from_settings(RedactSettings(), rampart_service)


def test_readme_redact_example_prints_what_the_readme_says(redactor):
    text = README.read_text(encoding="utf-8")
    command = re.search(r'ner-stage redact "([^"]+)"', text)
    documented = re.search(r'# \[\{"redacted_text":"([^"]+)"', text)
    assert command and documented, "the README's redact example moved: update this test"
    (result,) = redactor.redact([command.group(1)])
    assert result.text == documented.group(1)


def test_run_demo_documents_lose_exactly_their_pii(redactor):
    assert len(SAMPLE_TEXTS) == len(DEMO_REDACTED)
    results = redactor.redact(SAMPLE_TEXTS)
    assert [r.text for r in results] == DEMO_REDACTED, json.dumps([r.text for r in results], indent=1)
