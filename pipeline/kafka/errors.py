"""Kafka stage errors, under the project root ``NerStageError``.

Two families, and the worker treats them differently (docs/OPERATIONS.md, "Errors"):

- **record errors** belong to one record: it goes to the dead-letter topic and the stream
  goes on. They are ``schemas.errors.RecordError`` (bytes that do not decode) and
  ``pipeline.errors.InputError`` (a decoded record that is not a usable document):

      InputError (pipeline.errors)
      └── DocumentError              a decoded record is not a usable document
          ├── MissingTextError       ``text`` is absent or empty
          └── RecordFailedError      processing failed for this record alone
              ├── OutputRefusedError   the broker refused an output of this record (code in ``code``)
              └── OutputTooLargeError  an output is over the producer's message.max.bytes

- **stage errors** are everything else: our bugs, a failing engine or redactor, the broker.
  With ``on_error=stop`` (the default) they stop the worker before the batch commits; a
  restart resumes from the last committed offset:

      KafkaStageError
      ├── BrokerError                the client library reported a broker or client failure
      │   ├── FatalBrokerError       fatal for this client (fenced, out of sequence): restart
      │   │   └── FencedError        exactly-once: a newer producer took our transactional id
      │   ├── AbortableError         exactly-once: the open transaction must be aborted
      │   ├── ProduceTooLargeError   produce() refused a record over message.max.bytes
      │   ├── CommitError            a synchronous offset commit failed for a partition
      │   ├── AuthenticationError    the brokers refused who we are (password, certificate, TLS)
      │   ├── AuthorizationError     an ACL is missing: names principal, operation, resource
      │   └── StartupTimeoutError    no broker answered within startup_timeout_s
      ├── TransactionError           a transaction was aborted and the consumer rewound
      ├── InferenceError             the engine fails on every record of a batch
      ├── ProcessingError            our own code failed while processing a batch (a bug)
      └── DeadLetterBreakerError     too many recent records were dead-lettered

  and ``pipeline.errors.DeliveryError`` (shared with HTTP callbacks): an output record was not
  acknowledged, so the batch is not committed.

Messages never carry document text: dead-letter headers use a fixed text per class
(:mod:`pipeline.kafka.dead_letters`), and the supervisor logs foreign exceptions by class.
"""

from __future__ import annotations

from engines.errors import NerStageError
from pipeline.errors import DeliveryError, InputError

__all__ = ["DeliveryError"]  # re-exported: one class for Kafka outputs and HTTP callbacks


class DocumentError(InputError):
    """The record decodes but is not a document the stage can process."""


class MissingTextError(DocumentError):
    """The document has no ``text`` or an empty one."""


class RecordFailedError(DocumentError):
    """Processing failed for this record alone (``on_error=dead-letter``, or an output of it)."""

    def __init__(self, message: str, *, cause: str | None = None) -> None:
        super().__init__(message)
        self.cause = cause  # the original exception's class name (never its message)


class OutputRefusedError(RecordFailedError):
    """The broker refused an output record of this document (e.g. over the topic's limit)."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code  # librdkafka's error name, e.g. MSG_SIZE_TOO_LARGE


class OutputTooLargeError(RecordFailedError):
    """An output record of this document is larger than the producer's ``message.max.bytes``."""


class KafkaStageError(NerStageError):
    """The Kafka stage cannot continue."""


class BrokerError(KafkaStageError):
    """librdkafka reported an error (a wrapped ``KafkaException``); ``code`` is its name."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class FatalBrokerError(BrokerError):
    """A fatal client error (fenced producer, idempotence broken): only a new client recovers."""


class FencedError(FatalBrokerError):
    """Exactly-once: another producer took this worker's transactional id (a newer instance of
    its slot, ``txn_slots.py``): this one must stop, it can no longer commit anything."""


class AbortableError(BrokerError):
    """Exactly-once: the open transaction is in an abortable state."""


class ProduceTooLargeError(BrokerError):
    """``produce()`` refused a record larger than the producer's ``message.max.bytes``."""


class CommitError(BrokerError):
    """A synchronous offset commit failed (for at least one partition we still own)."""


class AuthenticationError(BrokerError):
    """The brokers refused our credentials or certificate, or we refused theirs (TLS)."""


class AuthorizationError(BrokerError):
    """An ACL is missing; the message names the principal, the operation and the resource."""


class StartupTimeoutError(BrokerError):
    """No broker answered within ``startup_timeout_s`` (a wrong bootstrap, a firewall)."""


class TransactionError(KafkaStageError):
    """A Kafka transaction failed; it was aborted and the consumer rewound."""


class InferenceError(KafkaStageError):
    """Every record of a batch failed in the engine: the engine is broken, not the records."""


class ProcessingError(KafkaStageError):
    """Our code (tokenizer, engine, decoder, redactor, encoder) failed on a batch: a stage error."""


class DeadLetterBreakerError(KafkaStageError):
    """More than the allowed share of the last N records went to the dead-letter topic."""

