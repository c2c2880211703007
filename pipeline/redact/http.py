"""``POST /redact`` as a FastAPI router, for the HTTP server to include.

Two ways to get one, both public:

- ``create_router(redactor)``: a router bound to this ``Redactor`` (or to a zero-argument
  callable returning one, called per request, e.g. ``lambda: app.state.redactor``). Use it
  when the app builds its own redactor::

      app.include_router(create_router(Redactor.from_settings(RedactSettings.load(), service)))

- ``router`` (module attribute, ``create_router()``): finds the redactor through the
  ``get_redactor`` dependency, in this order: ``app.state.redactor``; else one built once
  from ``RedactSettings.load()`` over the server's model (``app.state.ner.service``, the
  ``NerService`` the HTTP server loads) and cached in ``app.state.redactor``. Tests and other
  apps can swap it with ``app.dependency_overrides[get_redactor]``. With neither, 503.

The route is a plain ``def``: FastAPI runs it in its thread pool, so CPU-bound redaction does
not block the event loop. Errors are left to the app's ``NerStageError`` handlers
(``InputError`` such as ``PolicyError`` -> 422). Document text and redacted output are never
logged here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from fastapi import APIRouter, Depends, HTTPException, Request

from pipeline.redact.api import redact_request
from pipeline.redact.redactor import Redactor
from pipeline.redact.settings import RedactSettings
from schemas.redact import RedactRequest, RedactResponse

_BUILD_LOCK = threading.Lock()


def get_redactor(request: Request) -> Redactor:
    """The app's redactor: ``app.state.redactor``, else one built over ``app.state.ner.service``."""
    state = request.app.state
    redactor = getattr(state, "redactor", None)
    if redactor is not None:
        return redactor
    service = getattr(getattr(state, "ner", None), "service", None)
    if service is None:
        raise HTTPException(status_code=503, detail="redaction is not available on this server")
    with _BUILD_LOCK:
        redactor = getattr(state, "redactor", None)
        if redactor is None:
            redactor = Redactor.from_settings(RedactSettings.load(), service)
            state.redactor = redactor
    return redactor


def create_router(redactor: Redactor | Callable[[], Redactor] | None = None) -> APIRouter:
    """A router with ``POST /redact`` bound to ``redactor`` (default: ``get_redactor``)."""
    if redactor is None:
        dependency: Callable[..., Redactor] = get_redactor
    elif isinstance(redactor, Redactor):
        def dependency() -> Redactor:
            return redactor
    else:
        dependency = redactor

    router = APIRouter(tags=["redaction"])

    @router.post(
        "/redact",
        response_model=RedactResponse,
        summary="Redact PII in texts",
        description="Finds PII (model spans + pattern recognizers) and rewrites it by policy. One item per input, "
                    "in order: the redacted text and the entities applied, offsets into the original input.",
    )
    def redact(body: RedactRequest, redactor: Redactor = Depends(dependency)) -> RedactResponse:
        return redact_request(redactor, body)

    return router


router = create_router()
