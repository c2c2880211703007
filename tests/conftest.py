"""Shared fixtures: the real default model is loaded once per session (it is small)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def rampart_service():
    from pipeline.config import ModelSettings
    from pipeline.service import NerService

    return NerService.from_settings(ModelSettings.load(threads=1))


@pytest.fixture(scope="session")
def rampart_int8_service():
    """The int8 bundle (built into the checkout's .cache by scripts/install-int8.sh, else on first use)."""
    from pipeline.config import ModelSettings
    from pipeline.service import NerService

    return NerService.from_settings(ModelSettings.load(model="rampart-int8", threads=1))
