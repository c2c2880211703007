"""Shared benchmark plumbing: sample texts, timing, result files, plots, progress."""

from __future__ import annotations

import json
import platform
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

_FIRST = ["John", "Maria", "Wei", "Aisha", "Olga", "Carlos", "Yuki", "Fatima", "Liam", "Zoë"]
_LAST = ["Smith", "García", "Chen", "Okafor", "Ivanova", "Müller", "Tanaka", "Haddad", "Brown", "Dubois"]
_WORDS = (
    "the report was filed after the meeting and sent to the team for review before the quarterly deadline "
    "customer support escalated the ticket because the invoice did not match the shipment details we agreed "
    "please update the account settings so that notifications reach the right inbox in the future"
).split()


def sample_texts(n: int, min_words: int, max_words: int, seed: int = 7) -> list[str]:
    """Reproducible English-like texts with planted names, e-mails and phone numbers."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(min_words, max_words))]
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        pii = [f"{first} {last}", f"{first.lower()}.{last.lower()}@example.com",
               f"+1 ({rng.randint(200, 999)}) 555-{rng.randint(1000, 9999)}"]
        for item in pii[: rng.randint(1, 3)]:
            words.insert(rng.randrange(len(words) + 1), item)
        texts.append(" ".join(words))
    return texts


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = np.asarray(samples_s) * 1e3
    return {"p50_ms": float(np.percentile(ms, 50)), "p90_ms": float(np.percentile(ms, 90)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean())}


def time_calls(fn: Callable[[], object], repeats: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    """Lowest wall time of ``repeats`` runs: the least disturbed by other work on the machine."""
    return min(time_calls(fn, repeats, warmup=1))


def machine() -> dict:
    import os

    return {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine()}


def progress(message: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def save(result: dict, out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": name, "created_at": datetime.now(UTC).isoformat(), "machine": machine(), **result}
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return path


def pyplot():
    """matplotlib with a non-interactive backend, or None when it is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        progress("matplotlib not installed: skipping the PNG plot (pip install 'ner-stage[dev]')")
        return None
    return plt
