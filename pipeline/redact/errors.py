"""Redaction errors, under the project root ``NerStageError``.

    NerStageError
    └── InputError (pipeline.errors)
        └── RedactError        spans or a request cannot be redacted as given
            └── PolicyError    a policy or operator spec is invalid (unknown label syntax,
                               unknown operator, bad parameters, hash without a key)

Messages name labels, operators and offsets, never document text: they may reach logs and
HTTP responses.
"""

from __future__ import annotations

from pipeline.errors import InputError


class RedactError(InputError):
    """Spans or a request cannot be redacted as given (e.g. offsets outside the text)."""


class PolicyError(RedactError):
    """A policy or operator spec is invalid."""
