"""Kafka stage errors, under the project root ``NerStageError``.

    NerStageError
    ├── InputError (pipeline.errors)
    │   └── DocumentError          a decoded record is not a usable document (dead-lettered)
    │       ├── MissingTextError   ``text`` is absent or empty
    │       └── RecordFailedError  the model, redactor or encoder failed on this record only
    └── KafkaStageError            the stage cannot go on as configured
        ├── BrokerError            the client library reported a broker or client failure
        ├── TransactionError       a transaction could not be committed (aborted and rewound)
        └── InferenceError         the engine fails on every record of a batch (not the records' fault)
    └── DeliveryError (pipeline.errors, shared with HTTP callbacks)
                                   an output record was not acknowledged (batch not committed)

Record-level problems (``schemas.errors.RecordError``, ``DocumentError``, ``TextTooLongError``,
and errors while running the model on a single record) never stop the worker: the record goes
to the dead-letter topic. Everything else stops the batch before its offsets are committed.
"""

from __future__ import annotations

from engines.errors import NerStageError
from pipeline.errors import DeliveryError, InputError

__all__ = ["BrokerError", "DeliveryError", "DocumentError", "InferenceError", "KafkaStageError", "MissingTextError",
           "RecordFailedError", "TransactionError"]


class DocumentError(InputError):
    """The record decodes but is not a document the stage can process."""


class MissingTextError(DocumentError):
    """The document has no ``text`` or an empty one."""


class RecordFailedError(DocumentError):
    """Processing failed for this record alone; the message names the original error class."""


class KafkaStageError(NerStageError):
    """The Kafka stage cannot continue."""


class BrokerError(KafkaStageError):
    """librdkafka reported an error (wrapped ``KafkaException``)."""


class TransactionError(KafkaStageError):
    """A Kafka transaction failed; it was aborted and the consumer rewound."""


class InferenceError(KafkaStageError):
    """Every record of a batch failed in the engine: the engine is broken, not the records."""
