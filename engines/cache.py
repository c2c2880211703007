"""Where the stage caches what it builds once (the Kafka jars, the Schema Registry jar, the
rampart-int8 bundle, TensorRT plans), and the one file lock that makes processes starting
together on one host build each of them once."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


def default_cache_dir() -> Path:
    """``<checkout>/.cache`` when running from a source checkout (gitignored), else ``~/.cache/ner-stage``."""
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "pipeline").is_dir():
        return root / ".cache"
    return Path.home() / ".cache" / "ner-stage"


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created, with its directory): the second process
    waits, then finds the first one's finished build instead of building again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
