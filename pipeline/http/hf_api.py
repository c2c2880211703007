"""``POST /``: the Hugging Face Inference API for token classification (bodies in
:mod:`schemas.hf`), so ``huggingface_hub.InferenceClient(model="http://host:port")`` works
against this server unchanged.

A thin route over the batcher, not its own engine call: the answer is the one
``/predict_tokens`` gives, under the same limits, auth, back-pressure and metrics; only the last
step differs (this module's ``finish`` writes the transformers pipeline's items). See
docs/ARCHITECTURE.md (HTTP API).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import orjson
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from pipeline.http.errors import ERROR_RESPONSES, ApiError, RequestInvalidError
from pipeline.http.limits import texts_of
from pipeline.http.state import JSON, ServerState, batched, server_state
from pipeline.service import NerService, PredictOptions
from pipeline.tokenize import EncodedText
from schemas.hf import HfRequest, HfResponse
from schemas.http import PredictRequest

router = APIRouter()


def options_of(body: HfRequest, service: NerService) -> PredictOptions:
    """The request's parameters as the service's options (transformers semantics: no joining
    of adjacent spans, no thresholds)."""
    params = body.parameters
    if params.stride is not None:
        most = service.encoder.capacity // 2
        if params.stride > most:
            raise RequestInvalidError(
                f"parameters.stride: must be at most {most} (half of the {service.encoder.capacity}-token window)",
                field="parameters.stride", limit=most)
    return PredictOptions(aggregation=params.aggregation_strategy, ignore_labels=tuple(params.ignore_labels),
                          merge_adjacent=False, truncate=False, stride=params.stride)


def pipeline_items(service: NerService, doc: EncodedText, logits: np.ndarray, options: PredictOptions) -> list[dict]:
    """One text's items in the transformers pipeline's shape, from the same predictions
    ``/predict_tokens`` reports (``word`` is the span's text, as ``/predict_tokens``'s ``token``)."""
    preds = service.predictions(doc, logits, options)
    if options.aggregation == "none":
        head = len(service.encoder.prefix)
        return [{"entity": p.label, "score": p.score, "index": p.index + head, "word": doc.tokens[p.index],
                 "start": p.start, "end": p.end} for p in preds]
    return [{"entity_group": p.label, "score": p.score, "word": doc.text[p.start : p.end], "start": p.start,
             "end": p.end} for p in preds]


def _finisher(service: NerService, options: PredictOptions,
              single: bool) -> Callable[[list[EncodedText], list[np.ndarray]], bytes]:
    def finish(docs: list[EncodedText], logits: list[np.ndarray]) -> bytes:
        items = [pipeline_items(service, d, lg, options) for d, lg in zip(docs, logits, strict=True)]
        return orjson.dumps(items[0] if single else items)
    return finish


def _texts(body: HfRequest, state: ServerState) -> list[str]:
    """The texts under the server's limits (the same check as ``/predict_tokens``); a single
    string's errors name ``inputs`` rather than ``inputs[0]``."""
    try:
        return texts_of(PredictRequest(inputs=body.inputs), state.settings)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc
    except ApiError as exc:
        if isinstance(body.inputs, str) and exc.field == "inputs[0]":
            exc.field = "inputs"
            exc.message = exc.message.replace("inputs[0]", "inputs", 1)
        raise


@router.post("/", response_model=HfResponse, responses=ERROR_RESPONSES, tags=["inference"],
             summary="Token classification (Hugging Face Inference API)")
async def hf_token_classification(body: HfRequest, request: Request) -> Response:
    """The transformers pipeline's answer: a flat list for one text, one list per text for a
    list. Same model, limits and batching as ``/predict_tokens``."""
    state = server_state(request)
    texts = _texts(body, state)
    options = options_of(body, state.service)
    finish = _finisher(state.service, options, single=isinstance(body.inputs, str))
    answer = await batched(request, state.batcher.submit(texts, options, finish))
    return Response(answer, media_type=JSON)
