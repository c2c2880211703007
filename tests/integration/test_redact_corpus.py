"""Leak rate on the bench's seeded synthetic corpus, with the real model (a small slice of
``ner-stage bench redact``, which prints the full table and compares with Presidio)."""

from __future__ import annotations

import pytest

from pipeline.bench.redact import corpus, leak_rates
from pipeline.redact import Redactor, RedactSettings

pytestmark = pytest.mark.integration


def test_planted_pii_does_not_survive(rampart_service):
    docs = corpus(80, seed=11)
    redactor = Redactor.from_settings(RedactSettings.load(), rampart_service)
    rates = leak_rates(docs, [r.text for r in redactor.redact([d.text for d in docs])])
    for kind in ("email", "card", "iban", "ssn", "ip"):  # validated by a recognizer as well as the model
        assert rates[kind]["planted"] > 0 and rates[kind]["leak_rate"] == 0.0, kind
    for kind in ("name", "phone", "address"):  # model-only or partly: a few misses are possible
        assert rates[kind]["planted"] > 0 and rates[kind]["leak_rate"] <= 0.05, (kind, rates[kind])
