"""What an integration test needs from the machine: skip with the reason locally, fail under
``CI=true`` (``pipeline.config.running_in_ci``), where every dependency must be there and a
skip would hide a missing broker, database, browser or runtime."""

from __future__ import annotations

import pytest

from pipeline.config import running_in_ci


def skip_or_fail(reason: str) -> None:
    """Skip the test (locally) or fail it (CI=true) for ``reason``."""
    if running_in_ci():
        pytest.fail(f"CI=true: {reason}", pytrace=False)
    pytest.skip(reason)
