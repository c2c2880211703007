"""Running workers: one in this process, or ``--workers N`` processes in the same group.

Why processes, not threads: each worker owns a model and an engine call uses every core it
is given, and tokenizing/decoding hold the GIL; separate processes scale across cores and a
crash takes down one consumer, whose partitions the group hands to the others.

Signals: SIGTERM and SIGINT set the worker's ``stop`` event; it drains its queue, commits
and leaves the group, and the process exits 0. The supervisor forwards SIGTERM to its
children and exits with the first non-zero child status (0 when all drained cleanly). A
child that dies on its own stops the others: the orchestrator restarts the whole pod.

Any worker death, whatever the exception, is reported by :func:`report_death` as ONE
structured line (``kafka.worker_failed``: worker, error class, exit status, where it was
raised) and an exit status that says which kind of failure it was (docs/OPERATIONS.md):

    0   drained and stopped on SIGTERM/SIGINT
    2   a stage error (``NerStageError``: broker, delivery, engine, a failing step)
    3   the dead-letter breaker tripped
    70  an unexpected exception (a bug; EX_SOFTWARE)

The line carries our own errors' messages (written never to contain document text) but only
the class and location of foreign exceptions, whose messages may quote their input.
"""

from __future__ import annotations

import multiprocessing
import signal
import threading
from dataclasses import dataclass

import structlog

from pipeline.config import DecodeSettings, ModelSettings
from pipeline.kafka.settings import KafkaSettings
from pipeline.redact import RedactSettings

log = structlog.get_logger(__name__)

EXIT_STAGE_ERROR = 2
EXIT_BREAKER = 3
EXIT_BUG = 70


def exit_status(exc: BaseException) -> int:
    from engines.errors import NerStageError
    from pipeline.kafka.errors import DeadLetterBreakerError

    if isinstance(exc, DeadLetterBreakerError):
        return EXIT_BREAKER
    return EXIT_STAGE_ERROR if isinstance(exc, NerStageError) else EXIT_BUG


def _origin(exc: BaseException) -> tuple[BaseException, str]:
    """The innermost cause and the ``file:line in function`` it was raised at."""
    root = exc
    while root.__cause__ is not None and root.__cause__ is not root:
        root = root.__cause__
    tb = root.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = "" if tb is None else f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno} in {tb.tb_frame.f_code.co_name}"
    return root, where


def report_death(exc: BaseException, worker: int | str) -> int:
    """Log one structured line for a worker that died of ``exc``; return its exit status."""
    from engines.errors import NerStageError

    status = exit_status(exc)
    root, where = _origin(exc)
    fields = {"worker": worker, "error": type(exc).__name__, "exit_status": status, "where": where}
    if root is not exc:
        fields["cause"] = type(root).__name__
    if isinstance(exc, NerStageError):
        fields["reason"] = str(exc)[:500]
    log.error("kafka.worker_failed", **fields)
    return status


@dataclass(frozen=True)
class StageSettings:
    """Everything one worker process needs (picklable, for ``spawn``)."""

    kafka: KafkaSettings
    model: ModelSettings
    decode: DecodeSettings
    redact: RedactSettings


def build_worker(stage: StageSettings, index: int = 0, stop: threading.Event | None = None, service=None,
                 status=None):
    """A ready-to-run :class:`Worker` (loads the model unless ``service`` is given)."""
    from pipeline.kafka.processor import BatchProcessor
    from pipeline.kafka.worker import Worker
    from pipeline.service import NerService
    from schemas.codec import create_codec

    settings = stage.kafka
    if service is None:
        service = NerService.from_settings(stage.model, stage.decode)
    codec = create_codec(settings.format, registry_url=settings.schema_registry_url,
                         registry_config=settings.registry_config())
    processor = BatchProcessor(service, codec, entities_topic=settings.entities_topic,
                               redacted_topic=settings.redacted_topic, dlq_topic=settings.dlq_topic,
                               max_text_chars=settings.max_text_chars, redact=stage.redact,
                               on_error=settings.on_error)
    return Worker(settings, processor, index=index, stop=stop, status=status)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum, _frame) -> None:
        log.info("kafka.stopping", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_one(stage: StageSettings, index: int = 0) -> None:
    """Run one worker in this process until SIGTERM/SIGINT (then drain and return)."""
    from pipeline.kafka.status import WorkerStatus, serve_status

    stop = threading.Event()
    _stop_on_signals(stop)
    settings = stage.kafka
    status = WorkerStatus(index, progress_interval_s=settings.progress_interval_s,
                          health_stall_s=settings.health_stall_s)
    if settings.metrics_port:  # before the model loads: start-up probes get "starting", not a refused connection
        serve_status(settings.metrics_port + index, status)
    build_worker(stage, index, stop, status=status).run()


def run_reported(stage: StageSettings, index: int = 0) -> int:
    """:func:`run_one`, turning any exception into a reported death and an exit status."""
    try:
        run_one(stage, index)
    except BaseException as exc:  # every death is reported, not only our own errors
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return report_death(exc, index)
    return 0


def _child(stage: StageSettings, index: int) -> None:  # pragma: no cover - runs in a spawned process
    import sys

    sys.exit(run_reported(stage, index))


def run_workers(stage: StageSettings) -> int:
    """Run ``stage.kafka.workers`` workers; returns the exit status for the command."""
    count = stage.kafka.workers
    if count == 1:
        return run_reported(stage)
    context = multiprocessing.get_context("spawn")  # never fork a process holding librdkafka threads
    children = [context.Process(target=_child, args=(stage, i), name=f"ner-worker-{i}") for i in range(count)]
    stopping = threading.Event()

    def forward(signum, _frame) -> None:
        stopping.set()
        for child in children:
            if child.pid is not None and child.is_alive():
                child.terminate()  # SIGTERM: the child drains and exits 0

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for child in children:
        child.start()
    status = 0
    while any(child.is_alive() for child in children):
        for child in children:
            child.join(0.2)
            if not child.is_alive() and child.exitcode and not stopping.is_set():
                log.error("kafka.worker_exited", worker=child.name, status=child.exitcode)
                status = status or child.exitcode
                forward(signal.SIGTERM, None)
    for child in children:
        child.join()
        if child.exitcode:
            status = status or (child.exitcode if child.exitcode > 0 else 128 - child.exitcode)
    return status
