"""PII redaction: find PII (model spans + recognizers + propagation) and rewrite it by policy.

    Redactor (redactor.py)        span source (NerService) or given model spans + recognizers
    │                             + propagation -> anonymizer; ``Redaction.entities`` is the
    │                             document's one answer (entities topic, redacted record, /redact)
    ├── recognizers/              declarations over ``RegexRecognizer`` (email, card (Luhn), iban
    │                             (mod-97), ssn, ip (ipaddress), url), phone (phonenumbers), and the
    │                             optional spacy (names); each emits source="pattern:<name>"/"spacy"
    ├── propagation.py            further occurrences of detected values, source="propagated"
    ├── conflicts.py              named overlap/neighbour strategies (merge, longest, highest_score)
    ├── anonymizer.py             (text, spans) + policy -> Redaction; offsets into the original
    ├── policy.py                 labels -> operators, default redacts every PII label
    └── operators/                replace, mask, hash (HMAC pseudonym), remove, keep

Recall-oriented decoding of the model's spans lives with decoding (``pipeline/recall.py``): the
redactor sees only ``(text, spans)``, never the model. Document text, span values and redacted
output never reach logs or error messages.
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
