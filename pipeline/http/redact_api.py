"""``POST /redact``: the redaction package's operation as a route, for the app to include.

``create_router(redactor, model_spans=None, check_texts=None)``: ``redactor`` is a ``Redactor``
or a zero-argument callable returning one (per request); ``model_spans`` is
``async (request, texts) -> list[list[Entity]]`` (the app passes its batcher's ``entities``, so
``/redact`` shares engine calls, fair scheduling and the 429 back-pressure with
``/predict_tokens``; None: pattern recognizers only); ``check_texts`` raises when the texts
exceed the server's limits (the app passes ``limits.check_texts``). A factory rather than a
module-level router so the route is tested with any redactor and span finder.

:func:`request_terms` and :func:`redact_texts` are the steps the route takes, also what the
golden redaction tests run. Document text and redacted output are never logged here. See
docs/ARCHITECTURE.md (Redaction).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter, Request

from pipeline.redact.policy import Policy
from pipeline.redact.redactor import Redactor
from pipeline.redact.term_lists import TermLists
from pipeline.spans import Entity
from schemas.redact import RedactRequest, RedactResponse

SpanFinder = Callable[[Request, list[str]], Awaitable[list[list[Entity]]]]

#: Bodies up to this many characters are redacted on the event loop; larger ones in a thread.
REDACT_ON_LOOP_CHARS = 4000


def request_terms(redactor: Redactor, body: RedactRequest) -> tuple[Policy, TermLists | None]:
    """The request's policy (the redactor's plus its overrides) and allow/deny lists; bad ones
    raise here, before the model runs."""
    policy = redactor.policy_with(body.policy, body.default_operator)
    lists = TermLists.build(body.allow, body.deny) if body.allow or body.deny else None
    return policy, lists


def redact_texts(redactor: Redactor, texts: Sequence[str], model: Sequence[Sequence[Entity]],
                 policy: Policy, lists: TermLists | None = None) -> RedactResponse:
    """One item per text: its model spans plus the recognizers', redacted by ``policy``
    (``lists``: the request's allow/deny entries)."""
    results = redactor.redact(texts, policy, lists, model=model)
    return RedactResponse.model_validate([r.to_dict() for r in results])


def create_router(redactor: Redactor | Callable[[], Redactor], model_spans: SpanFinder | None = None,
                  check_texts: Callable[[list[str]], object] | None = None) -> APIRouter:
    """A router with ``POST /redact`` over ``redactor`` and the ``model_spans`` finder."""
    current: Callable[[], Redactor] = (lambda: redactor) if isinstance(redactor, Redactor) else redactor
    router = APIRouter(tags=["redaction"])

    @router.post(
        "/redact",
        response_model=RedactResponse,
        summary="Redact PII in texts",
        description="Finds PII (model spans + pattern recognizers) and rewrites it by policy. One item per input, "
                    "in order: the redacted text and the entities applied, offsets into the original input.",
    )
    async def redact(body: RedactRequest, request: Request) -> RedactResponse:
        if check_texts is not None:
            check_texts(body.inputs)
        active = current()
        policy, lists = request_terms(active, body)
        texts = body.inputs
        if model_spans is not None:
            model = await model_spans(request, texts)
        else:
            model = [[] for _ in texts]
        if sum(map(len, texts)) <= REDACT_ON_LOOP_CHARS:
            return redact_texts(active, texts, model, policy, lists)
        return await asyncio.to_thread(redact_texts, active, texts, model, policy, lists)

    return router
