"""Signed callback delivery for async jobs.

Every callback is a POST of ``{job_id, status, result|error, metadata}`` with headers

- ``X-Ner-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>``
  (timestamp inside the MAC, so a captured request cannot be replayed later with a new date;
  receivers should reject timestamps older than a few minutes: :func:`verify` does);
- ``Idempotency-Key: <job id>`` (and ``X-Ner-Job-Id``): retries and redeliveries after a
  restart carry the same key, so receivers can drop duplicates (delivery is at-least-once).

One attempt (address check, connect, send, the receiver's answer) has a TOTAL deadline of
``timeout_s``: httpx's timeouts are per read, so a receiver trickling one byte every few seconds
would otherwise hold an attempt open indefinitely.

Failed attempts (network error, timeout, any non-2xx, redirects are not followed) are retried
with exponential backoff and jitter (:func:`backoff`) by the job runner, which records the
final failure on the job.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import random
import time

import httpx

from pipeline.errors import DeliveryError
from pipeline.http.errors import CallbackRefusedError
from pipeline.http.ssrf import CallbackGuard

SIGNATURE_HEADER = "X-Ner-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
JOB_HEADER = "X-Ner-Job-Id"


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: bytes, header: str, body: bytes, *, tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """Receiver side: True when ``header`` signs ``body`` with ``secret`` and is recent."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


def backoff(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Delay before try ``attempt + 1``: ``base * 2**(attempt-1)`` capped, half of it jittered."""
    delay = min(cap_s, base_s * (2 ** max(0, attempt - 1)))
    return delay / 2 + (rng or random).uniform(0, delay / 2)


class CallbackSender:
    """Sends one callback attempt to an SSRF-checked, address-pinned target."""

    def __init__(self, guard: CallbackGuard, secret: bytes | None, *, timeout_s: float = 10.0,
                 client: httpx.AsyncClient | None = None) -> None:
        self.guard = guard
        self.secret = secret
        self.timeout_s = timeout_s
        self._client = client or httpx.AsyncClient(timeout=timeout_s, follow_redirects=False, trust_env=False)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, url: str, job_id: str, body: bytes) -> int:
        """POST ``body``; return the status code, or raise :class:`DeliveryError` (also when the
        whole attempt takes longer than ``timeout_s``)."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await self._attempt(url, job_id, body)
        except TimeoutError as exc:
            raise DeliveryError(f"the attempt took longer than {self.timeout_s:g} s (callback_timeout_s)") from exc

    async def _attempt(self, url: str, job_id: str, body: bytes) -> int:
        if self.secret is None:
            raise DeliveryError("no callback_secret is configured; callbacks cannot be signed", retryable=False)
        try:
            target = await self.guard.check(url)
        except CallbackRefusedError as exc:
            retryable = "does not resolve" in str(exc)
            raise DeliveryError(f"refused: {exc}", retryable=retryable) from exc
        headers = {
            "Content-Type": "application/json",
            "Host": target.host_header(),
            SIGNATURE_HEADER: sign(self.secret, int(time.time()), body),
            IDEMPOTENCY_HEADER: job_id,
            JOB_HEADER: job_id,
            "User-Agent": "ner-stage-callback/1",
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            response = await self._client.post(target.pinned_url(), content=body, headers=headers,
                                               extensions=extensions)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"receiver answered HTTP {response.status_code}")
        return response.status_code
