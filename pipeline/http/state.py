"""What every route module shares: the app's :class:`ServerState` (``server_state(request)``)
and :func:`batched`, batcher work on behalf of a request whose client may leave.

Its own module so the routes and ``app.py`` (which only assembles) import it, never each
other. See docs/ARCHITECTURE.md (HTTP API).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import Request
from starlette.types import Receive

from pipeline.http.batcher import until_gone

if TYPE_CHECKING:
    from pipeline.http.batcher import Batcher
    from pipeline.http.jobs import JobStore
    from pipeline.http.metrics import Metrics
    from pipeline.http.runner import JobRunner
    from pipeline.http.settings import HttpSettings
    from pipeline.http.ssrf import CallbackGuard
    from pipeline.redact import Redactor
    from pipeline.service import NerService

JSON = "application/json"
T = TypeVar("T")


@dataclass
class ServerState:
    """One app's parts, built by ``create_app`` and its lifespan (``app.state.ner``)."""

    settings: HttpSettings
    metrics: Metrics
    guard: CallbackGuard
    service: NerService | None = None
    batcher: Batcher | None = None
    redactor: Redactor | None = None
    store: JobStore | None = None
    runner: JobRunner | None = None
    ready: bool = False
    #: ``/predict_tokens`` requests between validation and answer (decides inline vs batched).
    predicting: int = 0


def server_state(request: Request) -> ServerState:
    return request.app.state.ner


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def batched(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """Await batcher work for an HTTP request; if the client disconnects first the work is
    cancelled (the batcher stops spending engine time on it at its next unit) and
    :class:`~pipeline.errors.ClientGone` is raised."""
    return await until_gone(asyncio.ensure_future(work), asyncio.ensure_future(_until_disconnect(request.receive)))
