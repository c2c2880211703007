import asyncio
import random

import httpx
import pytest

from pipeline.http.callbacks import (
    IDEMPOTENCY_HEADER,
    SIGNATURE_HEADER,
    CallbackSender,
    DeliveryError,
    backoff,
    sign,
    verify,
)
from pipeline.http.ssrf import CallbackGuard

SECRET = b"s3cret"


async def public(host: str, port: int) -> list[str]:
    return {"hooks.example.com": ["93.184.216.34"], "rebind.example.com": ["10.0.0.7"]}[host]


def test_signature_verifies_and_detects_tampering_and_replay():
    header = sign(SECRET, 1_700_000_000, b'{"a":1}')
    assert verify(SECRET, header, b'{"a":1}', now=1_700_000_010)
    assert not verify(SECRET, header, b'{"a":2}', now=1_700_000_010)
    assert not verify(b"other", header, b'{"a":1}', now=1_700_000_010)
    assert not verify(SECRET, header, b'{"a":1}', now=1_700_001_000)  # older than the tolerance
    assert not verify(SECRET, "garbage", b'{"a":1}')


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(1)
    delays = [backoff(n, 1.0, 8.0, rng) for n in range(1, 7)]
    for n, delay in enumerate(delays, start=1):
        full = min(8.0, 2 ** (n - 1))
        assert full / 2 <= delay <= full
    assert max(delays) <= 8.0


def _sender(handler) -> tuple[CallbackSender, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(record))
    return CallbackSender(CallbackGuard(resolver=public), SECRET, client=client), seen


def test_callback_is_signed_keyed_and_sent_to_the_checked_address():
    sender, seen = _sender(lambda r: httpx.Response(204))
    assert asyncio.run(sender.send("https://hooks.example.com/cb", "job-1", b'{"job_id":"job-1"}')) == 204
    (request,) = seen
    assert str(request.url) == "https://93.184.216.34/cb"
    assert request.headers["host"] == "hooks.example.com"
    assert request.headers[IDEMPOTENCY_HEADER] == "job-1"
    assert verify(SECRET, request.headers[SIGNATURE_HEADER], request.content)


@pytest.mark.parametrize("status", [301, 400, 500, 503])
def test_non_2xx_answers_are_retryable_failures(status):
    sender, _ = _sender(lambda r: httpx.Response(status, headers={"Location": "http://10.0.0.1/"}))
    with pytest.raises(DeliveryError) as err:
        asyncio.run(sender.send("https://hooks.example.com/cb", "job-1", b"{}"))
    assert err.value.retryable and str(status) in str(err.value)


def test_network_errors_are_retryable():
    def boom(request):
        raise httpx.ConnectError("refused")
    sender, _ = _sender(boom)
    with pytest.raises(DeliveryError) as err:
        asyncio.run(sender.send("https://hooks.example.com/cb", "job-1", b"{}"))
    assert err.value.retryable


def test_a_url_that_now_resolves_internally_is_refused_at_delivery_without_a_connection():
    sender, seen = _sender(lambda r: httpx.Response(200))
    with pytest.raises(DeliveryError) as err:
        asyncio.run(sender.send("https://rebind.example.com/cb", "job-1", b"{}"))
    assert not err.value.retryable and seen == []


def test_without_a_secret_nothing_is_sent():
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    sender = CallbackSender(CallbackGuard(resolver=public), None, client=client)
    with pytest.raises(DeliveryError) as err:
        asyncio.run(sender.send("https://hooks.example.com/cb", "job-1", b"{}"))
    assert not err.value.retryable
