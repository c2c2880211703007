"""Record-view errors. Record errors dead-letter one record; their ``path`` (a configured
field path made concrete, ``comments[2].text``) goes into ``ner.error.message``, the value never::

    InputError (pipeline.errors)
    └── FieldValueError          a value at a configured path cannot be used (``path``)
        ├── FieldTypeError       a text path holds something other than a string or null
        ├── IdFieldError         the id path (or the key for @key) is not a usable id
        └── FieldPolicyError     a field policy's operator does not fit the value's type

    ConfigError (pipeline.errors)  start-up: the worker stops before it consumes anything
    ├── PathError (paths.py)     a configured path breaks the grammar (or is given twice)
    └── FieldPolicyConfigError   a field policy is refused (unknown operator, remove on an index)
    (a text path or policy the known Avro schema does not allow is a ConfigError naming both)
"""

from __future__ import annotations

from pipeline.errors import ConfigError, InputError


class FieldValueError(InputError):
    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message, field=path)
        self.path = path


class FieldTypeError(FieldValueError):
    """A value at a text path is neither a string nor null."""


class IdFieldError(FieldValueError):
    """The id is not a string or an integer (or the key is not UTF-8)."""


class FieldPolicyError(FieldValueError):
    """A field policy's operator does not fit this record's value (e.g. mask on a number)."""


class FieldPolicyConfigError(ConfigError):
    """A field policy is refused at start-up (unknown operator, or the Avro schema says no)."""
