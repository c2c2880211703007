"""``bench http``'s fairness figure: short requests sent while one 100,000-character request is
in flight on our server. Fair scheduling (``pipeline/http/batcher.py``) should keep each short
request's latency near one engine batch, far below the long request's time (target: at most
25 %)."""

from __future__ import annotations

import threading
import time

import orjson

from pipeline.devtools.bench.common import percentiles
from pipeline.devtools.bench.raw_http import RawClient, post_request

FAIR_SENTENCE = "Please call Maria Garcia at +1 415 555 0199 or write to maria.garcia@example.com. "
LONG_TEXT = (FAIR_SENTENCE * (100_000 // len(FAIR_SENTENCE) + 1))[:100_000]


def fairness_figure(port: int, body: bytes) -> dict:
    """Short sequential requests sent while one 100,000-character request is in flight: how long
    they wait behind it (fair scheduling bounds it by about one engine batch)."""
    long_body = orjson.dumps({"inputs": [LONG_TEXT], "aggregation_strategy": "simple"})
    done: dict = {}

    def send_long() -> None:
        client = RawClient(port)
        try:
            started = time.perf_counter()
            done["status"] = client.call(post_request(port, "/predict_tokens", long_body))[0]
            done["seconds"] = time.perf_counter() - started
        finally:
            client.close()

    thread = threading.Thread(target=send_long)
    thread.start()
    time.sleep(0.5)  # tokenized and in the engine
    client = RawClient(port)
    short: list[float] = []
    try:
        while thread.is_alive():
            started = time.perf_counter()
            client.call(post_request(port, "/predict_tokens", body))
            if thread.is_alive():  # only samples that overlapped the long request
                short.append(time.perf_counter() - started)
    finally:
        client.close()
        thread.join()
    stats = percentiles(short) if short else {}
    return {"long_chars": len(LONG_TEXT), "long_status": done.get("status"), "long_s": done.get("seconds"),
            "short_requests": len(short), **{f"short_{k}": v for k, v in stats.items()},
            "short_max_ms": max(short) * 1e3 if short else None,
            "short_max_over_long": (max(short) / done["seconds"]) if short and done.get("seconds") else None,
            "target_short_over_long": 0.25}
