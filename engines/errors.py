"""The project's exception root, and the engine-layer errors under it.

The root lives here because `engines` is the bottom of the dependency graph: `pipeline` and
`schemas` import it, it imports neither. Every error the stage raises on purpose is a
``NerStageError``, so callers (CLI, HTTP, Kafka worker) can tell "our" failures, which carry a
message fit for a user, from bugs.

    NerStageError
    ├── BundleError          a model bundle is missing, corrupt or inconsistent
    └── EngineError          an inference runtime failed to load or to run
        └── EngineUnavailableError   the runtime (or its hardware) is not installed here
"""

from __future__ import annotations


class NerStageError(Exception):
    """Root of every error ner-stage raises deliberately."""


class BundleError(NerStageError):
    """A model bundle cannot be used; the message names the file and the fix."""


class EngineError(NerStageError):
    """An inference runtime failed to load a model or to run a batch."""


class EngineUnavailableError(EngineError):
    """The chosen engine cannot run on this machine (library or hardware missing)."""
