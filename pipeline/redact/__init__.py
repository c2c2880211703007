"""PII redaction: find PII (model spans + pattern recognizers) and rewrite it by policy.

    Redactor (redactor.py)        span source (NerService) + recognizers -> anonymizer
    ├── recognizers/              email, phone (phonenumbers), card (Luhn), iban (mod-97),
    │                             ssn, ip (ipaddress), url; each emits source="pattern:<name>"
    ├── conflicts.py              named overlap/neighbour strategies (merge, longest, highest_score)
    ├── anonymizer.py             (text, spans) + policy -> Redaction; offsets into the original
    ├── policy.py                 labels -> operators, default redacts every PII label
    └── operators/                replace, mask, hash (HMAC pseudonym), remove, keep

The anonymizer sees only ``(text, spans)``, never the model. Document text, span values and
redacted output never reach logs or error messages.
"""

from __future__ import annotations

from pipeline.redact.anonymizer import Redaction, anonymize
from pipeline.redact.conflicts import STRATEGIES, ConflictStrategy, resolve
from pipeline.redact.errors import PolicyError, RedactError
from pipeline.redact.operators import OperatorDefaults, build_operator
from pipeline.redact.policy import PII_LABELS, Policy, default_policy
from pipeline.redact.recognizers import RECOGNIZERS, build_recognizers
from pipeline.redact.redactor import Redactor, SpanSource
from pipeline.redact.settings import RedactSettings

__all__ = [
    "PII_LABELS", "RECOGNIZERS", "STRATEGIES", "ConflictStrategy", "OperatorDefaults", "Policy", "PolicyError",
    "RedactError", "RedactSettings", "Redaction", "Redactor", "SpanSource", "anonymize", "build_operator",
    "build_recognizers", "default_policy", "resolve",
]
