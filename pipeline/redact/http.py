"""``POST /redact`` as a FastAPI router, for the HTTP server to include.

``create_router(redactor, model_spans=None)``:

- ``redactor``: a ``Redactor`` (its recognizers, policy and conflict strategy), or a
  zero-argument callable returning one (called per request, for apps that build it at start-up);
- ``model_spans``: ``async (request, texts) -> list[list[Entity]]``, the model's entity spans
  per text. The server passes its batcher's ``entities`` (so ``/redact`` shares engine calls,
  fair scheduling and the 429 back-pressure with ``/predict_tokens``, and a client that
  disconnects stops costing engine time); None means pattern recognizers only;
- ``check_texts``: raises when the texts exceed the server's limits (the HTTP server passes
  ``pipeline.http.limits.check_texts``, the limits every route shares); None checks nothing.

The route is async: it awaits the model spans, then redacts each text with
``Redactor.redact_spans`` (recognizers, repeats, conflicts, operators), on the event loop for
small bodies and in a worker thread for large ones. Errors are left to the app's error table
(``PolicyError`` is an ``InputError`` -> 422). Document text and redacted output are never
logged here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from fastapi import APIRouter, Request

from pipeline.redact.errors import RedactError
from pipeline.redact.policy import Policy
from pipeline.redact.redactor import Redactor
from pipeline.redact.term_lists import TermLists
from pipeline.spans import Entity
from schemas.redact import RedactRequest, RedactResponse

SpanFinder = Callable[[Request, list[str]], Awaitable[list[list[Entity]]]]

#: Bodies up to this many characters are redacted on the event loop; larger ones in a thread.
REDACT_ON_LOOP_CHARS = 4000


def redact_texts(redactor: Redactor, texts: Sequence[str], model: Sequence[Sequence[Entity]],
                 policy: Policy, lists: TermLists | None = None) -> RedactResponse:
    """One item per text: its model spans plus the recognizers', redacted by ``policy``
    (``lists``: the request's allow/deny entries)."""
    if len(model) != len(texts):
        raise RedactError(f"span source returned {len(model)} results for {len(texts)} texts")
    results = [redactor.redact_spans(text, spans, policy, lists) for text, spans in zip(texts, model, strict=True)]
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
        policy = active.policy_with(body.policy, body.default_operator)  # bad policies fail before the model runs
        lists = TermLists.build(body.allow, body.deny) if body.allow or body.deny else None  # and bad lists
        texts = body.inputs
        if model_spans is not None:
            model = await model_spans(request, texts)
        else:
            model = [[] for _ in texts]
        if sum(map(len, texts)) <= REDACT_ON_LOOP_CHARS:
            return redact_texts(active, texts, model, policy, lists)
        return await asyncio.to_thread(redact_texts, active, texts, model, policy, lists)

    return router
