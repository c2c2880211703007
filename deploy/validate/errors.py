"""Errors of the deployment validators, under the project root ``NerStageError``.

    NerStageError
    └── DeployCheckError        a validator cannot run at all (tool or schema missing)

Problems *found* in the files are not exceptions: every checker returns a list of
:class:`~deploy.validate.report.Problem` so one run reports all of them at once.
"""

from __future__ import annotations

from engines.errors import NerStageError


class DeployCheckError(NerStageError):
    """A validator cannot run (its tool, schema or the project's settings cannot be loaded)."""
