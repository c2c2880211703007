"""The ``/redact`` operation as a plain function, so the HTTP route, tests and other front doors
share it: request body in, response body out. Errors are ``NerStageError``s (``PolicyError``
and ``TextTooLongError`` are ``InputError``s), which the HTTP layer maps to 422/413."""

from __future__ import annotations

from pipeline.redact.redactor import Redactor
from pipeline.redact.term_lists import TermLists
from schemas.redact import RedactRequest, RedactResponse


def redact_request(redactor: Redactor, request: RedactRequest) -> RedactResponse:
    """Redact ``request.inputs`` with the redactor's policy plus the request's overrides."""
    policy = redactor.policy_with(request.policy, request.default_operator)
    lists = TermLists.build(request.allow, request.deny) if request.allow or request.deny else None
    results = redactor.redact(request.inputs, policy, lists)
    return RedactResponse.model_validate([r.to_dict() for r in results])
