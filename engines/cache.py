"""Where the stage caches what it builds once (the Kafka jars, the rampart-int8 bundle)."""

from __future__ import annotations

from pathlib import Path


def default_cache_dir() -> Path:
    """``<checkout>/.cache`` when running from a source checkout (gitignored), else ``~/.cache/ner-stage``."""
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file() and (root / "pipeline").is_dir():
        return root / ".cache"
    return Path.home() / ".cache" / "ner-stage"
