"""Runs async jobs from the durable store and delivers their callbacks.

Jobs go through the same batcher as sync requests (one inference path), ``job_workers`` at a
time. Deliveries are driven by the store (``delivery = 'pending'`` and a due time), not by
memory, so a restart resumes them; each job's result is sent at least once, retried with
backoff until ``callback_max_attempts``, after which the job records ``delivery = 'failed'``
and the last error. Finished jobs are purged after ``job_retention_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import orjson
import structlog

from engines.errors import NerStageError
from pipeline.errors import DeliveryError, Overloaded
from pipeline.http.batcher import Batcher
from pipeline.http.callbacks import CallbackSender, backoff
from pipeline.http.errors import error_body
from pipeline.http.jobs import Job, JobStore
from pipeline.http.limits import options_of
from pipeline.http.metrics import Metrics
from pipeline.http.settings import HttpSettings
from schemas.http import PredictRequest

log = structlog.get_logger(__name__)


def callback_body(job: Job) -> bytes:
    """``{job_id, status, result|error, metadata}`` with the stored JSON embedded as is."""
    doc: dict = {"job_id": job.id, "status": job.status}
    if job.status == "succeeded":
        doc["result"] = orjson.Fragment(job.result or b"null")
    elif job.status == "failed":
        doc["error"] = orjson.Fragment(job.error or b"null")
    doc["metadata"] = orjson.Fragment(job.metadata) if job.metadata else None
    return orjson.dumps(doc)


class JobRunner:
    def __init__(self, store: JobStore, batcher: Batcher, sender: CallbackSender, settings: HttpSettings,
                 metrics: Metrics) -> None:
        self.store = store
        self.batcher = batcher
        self.sender = sender
        self.settings = settings
        self.metrics = metrics
        self._work = asyncio.Event()
        self._deliver = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._in_flight: set[str] = set()
        #: Batcher work of running jobs, cancelled by ``cancel`` so the engine stops at the next unit.
        self._running: dict[str, asyncio.Future] = {}
        self._next_purge = 0.0

    async def start(self) -> None:
        recovered = self.store.recover()
        if recovered:
            log.info("jobs_recovered", count=recovered)
        self._tasks = [asyncio.create_task(self._worker(), name=f"job-worker-{i}")
                       for i in range(self.settings.job_workers)]
        self._tasks.append(asyncio.create_task(self._deliveries(), name="job-deliveries"))
        self._work.set()
        self._deliver.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.sender.aclose()

    def wake(self) -> None:
        self._work.set()

    def cancel(self, job_id: str) -> Job:
        job = self.store.cancel(job_id)
        work = self._running.get(job_id)
        if work is not None:
            work.cancel()
        self._deliver.set()
        return job

    # -- running jobs ---------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            job = self.store.claim_next()
            if job is None:
                self._work.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._work.wait(), timeout=5.0)
                continue
            await self._run(job)

    async def _run(self, job: Job) -> None:
        try:
            request = PredictRequest.model_validate_json(job.request or b"{}")
            texts = [t if isinstance(t, str) else t[0] for t in
                     ([request.inputs] if isinstance(request.inputs, str) else request.inputs)]
            work = asyncio.ensure_future(self.batcher.predict(texts, options_of(request)))
            self._running[job.id] = work
            try:
                result = await asyncio.shield(work)  # cancelling the job cancels work, not this worker
            finally:
                self._running.pop(job.id, None)
        except asyncio.CancelledError:
            if not work.cancelled():  # the runner is stopping: the job is recovered on the next start
                work.cancel()
                raise
            log.info("job_cancelled_while_running", job_id=job.id)
            return
        except Overloaded:
            self.store.requeue(job.id)
            await asyncio.sleep(0.5)
            return
        except NerStageError as exc:
            status, fields = "failed", {"error": orjson.dumps(error_body(exc))}
        except Exception as exc:  # a bug must fail the job, not kill the worker
            log.error("job_crashed", job_id=job.id, error=type(exc).__name__)
            status, fields = "failed", {"error": orjson.dumps(error_body(exc))}
        else:
            status, fields = "succeeded", {"result": result}
        if self.store.finish(job.id, status, **fields):
            self.metrics.jobs.labels(status).inc()
            log.info("job_finished", job_id=job.id, status=status)
            self._deliver.set()

    # -- callbacks ------------------------------------------------------------------------

    async def _deliveries(self) -> None:
        while True:
            now = time.time()
            if now >= self._next_purge:  # finished jobs (and their results) are kept only so long
                purged = self.store.purge(now - self.settings.job_retention_s)
                if purged:
                    log.info("jobs_purged", count=purged)
                self._next_purge = now + 60.0
            for job in self.store.due_deliveries(now):
                if job.id not in self._in_flight:
                    self._in_flight.add(job.id)
                    task = asyncio.create_task(self._deliver_one(job))
                    task.add_done_callback(lambda _t, jid=job.id: self._in_flight.discard(jid))
            self._deliver.clear()
            next_at = self.store.next_delivery_at()
            timeout = 30.0 if next_at is None else min(30.0, max(0.01, next_at - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._deliver.wait(), timeout=timeout)

    async def _deliver_one(self, job: Job) -> None:
        attempt = job.attempts + 1
        try:
            await self.sender.send(job.callback_url or "", job.id, callback_body(job))
        except DeliveryError as exc:
            self.metrics.callbacks.labels("failed").inc()
            give_up = not exc.retryable or attempt >= self.settings.callback_max_attempts
            next_at = None if give_up else time.time() + backoff(
                attempt, self.settings.callback_backoff_s, self.settings.callback_backoff_max_s)
            self.store.attempt_failed(job.id, attempt, str(exc), next_at)
            log.warning("callback_failed", job_id=job.id, attempt=attempt, gave_up=give_up, error=str(exc))
        except Exception as exc:
            log.error("callback_crashed", job_id=job.id, error=type(exc).__name__)
            self.store.attempt_failed(job.id, attempt, f"internal error: {type(exc).__name__}", None)
        else:
            self.metrics.callbacks.labels("delivered").inc()
            self.store.delivered(job.id, attempt)
            log.info("callback_delivered", job_id=job.id, attempt=attempt)
        finally:
            self._deliver.set()
