"""Pipeline errors, under the project root ``engines.errors.NerStageError``.

    NerStageError
    ├── ConfigError          settings are invalid or a config file cannot be read
    └── InputError           a document or request cannot be processed as given
        └── TextTooLongError the text exceeds a configured limit

Package-specific errors (Kafka, HTTP, redaction) live in their package's ``errors`` module and
derive from these or from the root.
"""

from __future__ import annotations

from engines.errors import NerStageError


class ConfigError(NerStageError):
    """A setting is invalid or a config file cannot be read."""


class InputError(NerStageError):
    """A document or request cannot be processed as given; ``field`` names the culprit."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class TextTooLongError(InputError):
    """The text is longer than the configured character limit."""
