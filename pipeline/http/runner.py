"""Runs async jobs from the shared store and delivers their callbacks, on every replica.

Each replica (``owner``: host, pid and a random suffix) runs ``job_workers`` loops that claim
the oldest claimable job under a lease of ``job_lease_s`` (:meth:`JobStore.claim_next`), feed
it through the same batcher as sync requests (one inference path), renew the lease every
``heartbeat`` while it runs, and record the outcome fenced by the claim's attempt number. A
replica that dies stops renewing; another claims the job when the lease runs out. Idle
replicas look for work every ``job_poll_s`` (jobs submitted to *this* replica wake it at once).

Cancellation: ``DELETE /jobs/{id}`` on any replica marks the job ``cancelled`` in the store.
The replica running it sees that at its next renewal (at once when it is the same replica) and
stops the work through the job's :class:`JobControl`: the engine request is dropped (the
batcher skips requests marked ``gone``), and whatever it produced is discarded.

Callbacks are driven by the store (``delivery = 'pending'`` and a due time), leased per
attempt, so any replica delivers any due callback and a restart or a dead replica resumes
them; each is sent at least once with ``Idempotency-Key: <job id>``, retried with backoff until
``callback_max_attempts``, after which the job records ``delivery = 'failed'``. Finished jobs
are purged after ``job_retention_s``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid

import orjson
import structlog

from engines.errors import NerStageError
from pipeline.errors import DeliveryError, Overloaded
from pipeline.http.batcher import Batcher
from pipeline.http.callbacks import CallbackSender, backoff
from pipeline.http.errors import error_body
from pipeline.http.jobs import Job, JobStore, JobStoreError
from pipeline.http.limits import flatten_inputs, options_of
from pipeline.http.metrics import Metrics
from pipeline.http.settings import HttpSettings
from schemas.http import PredictRequest

log = structlog.get_logger(__name__)


def replica_id() -> str:
    """Who holds a lease: readable in the store (host and pid), unique across restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def callback_body(job: Job) -> bytes:
    """``{job_id, status, result|error, metadata}`` with the stored JSON embedded as is."""
    doc: dict = {"job_id": job.id, "status": job.status}
    if job.status == "succeeded":
        doc["result"] = orjson.Fragment(job.result or b"null")
    elif job.status == "failed":
        doc["error"] = orjson.Fragment(job.error or b"null")
    doc["metadata"] = orjson.Fragment(job.metadata) if job.metadata else None
    return orjson.dumps(doc)


class JobControl:
    """The stop switch of one running job.

    :meth:`cancel` marks the job stopped (``reason``: ``cancelled`` or ``lost``) and cancels its
    batcher work the way a disconnected client's is cancelled: the batcher stops spending engine
    time on it at its next work unit."""

    def __init__(self, job_id: str, attempt: int) -> None:
        self.job_id = job_id
        self.attempt = attempt
        self.reason: str | None = None
        self._work: asyncio.Future | None = None

    def is_cancelled(self) -> bool:
        return self.reason is not None

    def attach(self, work: asyncio.Future) -> None:
        self._work = work
        if self.reason is not None:
            self._drop()

    def cancel(self, reason: str = "cancelled") -> None:
        if self.reason is None:
            self.reason = reason
            self._drop()

    def _drop(self) -> None:
        if self._work is not None:
            self._work.cancel()


class JobRunner:
    def __init__(self, store: JobStore, batcher: Batcher, sender: CallbackSender, settings: HttpSettings,
                 metrics: Metrics, *, owner: str | None = None) -> None:
        self.store = store
        self.batcher = batcher
        self.sender = sender
        self.settings = settings
        self.metrics = metrics
        self.owner = owner or replica_id()
        self.lease_s = settings.job_lease_s
        self.heartbeat_s = min(settings.job_lease_s / 3, settings.job_poll_s)
        self.delivery_lease_s = max(settings.job_lease_s, 2 * settings.callback_timeout_s + 5)
        self._work = asyncio.Event()
        self._deliver = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._running: dict[str, JobControl] = {}
        self._in_flight: set[str] = set()
        self._next_purge = 0.0

    async def start(self) -> None:
        recovered = await self.store.call(self.store.recover)
        if recovered:
            log.info("jobs_recovered", count=recovered)
        self._tasks = [asyncio.create_task(self._worker(), name=f"job-worker-{i}")
                       for i in range(self.settings.job_workers)]
        self._tasks.append(asyncio.create_task(self._deliveries(), name="job-deliveries"))
        self._work.set()
        self._deliver.set()
        log.info("job_runner_started", owner=self.owner)

    async def stop(self) -> None:
        """Stop the loops and hand the jobs this replica holds back to the queue, so another
        replica (or the next start) takes them without waiting for the lease to run out."""
        held = list(self._running.values())
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        for control in held:
            with contextlib.suppress(JobStoreError):
                await self.store.call(self.store.requeue, control.job_id, control.attempt)
        await self.sender.aclose()

    def wake(self) -> None:
        self._work.set()

    async def cancel(self, job_id: str, key_hash: str | None) -> Job:
        """Cancel in the store (any replica's job); stop the work at once if it runs here."""
        job = await self.store.call(self.store.cancel, job_id, key_hash)
        control = self._running.get(job_id)
        if control is not None:
            control.cancel("cancelled")
        self._deliver.set()
        return job

    # -- running jobs ---------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            try:
                job = await self.store.call(self.store.claim_next, self.owner, self.lease_s)
            except JobStoreError as exc:
                log.warning("jobs_db_unavailable", error=str(exc))
                job = None
            if job is None:
                self._work.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._work.wait(), timeout=self.settings.job_poll_s)
                continue
            control = JobControl(job.id, job.run_attempt)
            self._running[job.id] = control
            heartbeat = asyncio.create_task(self._heartbeat(control, job.lease_expires_at or 0.0))
            try:
                await self._run(job, control)
            except JobStoreError as exc:  # the outcome is not recorded: the lease runs out, the job runs again
                log.warning("job_outcome_not_recorded", job_id=job.id, error=str(exc))
                await asyncio.sleep(self.settings.job_poll_s)
            finally:
                heartbeat.cancel()
                self._running.pop(job.id, None)

    async def _heartbeat(self, control: JobControl, held_until: float) -> None:
        """Renew the lease; stop the work when the job was cancelled or the lease is lost (or
        cannot be renewed before it runs out, so no two replicas ever run the job at once)."""
        while not control.is_cancelled():
            await asyncio.sleep(self.heartbeat_s)
            try:
                state = await self.store.call(self.store.renew, control.job_id, control.attempt, self.lease_s)
            except JobStoreError as exc:
                log.warning("job_lease_renewal_failed", job_id=control.job_id, error=str(exc))
                if time.time() + self.heartbeat_s >= held_until:
                    control.cancel("lost")
                continue
            if state == "held":
                held_until = time.time() + self.lease_s
            else:
                control.cancel(state)

    async def _run(self, job: Job, control: JobControl) -> None:
        try:
            request = PredictRequest.model_validate_json(job.request or b"{}")
            texts = flatten_inputs(request.inputs)  # the limits were checked when the job was accepted
            if control.is_cancelled():
                raise asyncio.CancelledError
            work = asyncio.ensure_future(self.batcher.submit(texts, options_of(request)))
            control.attach(work)
            result = await work
        except Overloaded:
            await self.store.call(self.store.requeue, job.id, job.run_attempt)
            await asyncio.sleep(0.5)
            return
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if not control.is_cancelled() or (task is not None and task.cancelling()):
                raise  # the server is stopping
            log.info("job_stopped", job_id=job.id, reason=control.reason)
            await self.store.call(self.store.end_run, job.id, job.run_attempt, control.reason or "cancelled")
            return
        except NerStageError as exc:
            status, fields = "failed", {"error": orjson.dumps(error_body(exc))}
        except Exception as exc:  # a bug must fail the job, not kill the worker
            log.error("job_crashed", job_id=job.id, error=type(exc).__name__)
            status, fields = "failed", {"error": orjson.dumps(error_body(exc))}
        else:
            status, fields = "succeeded", {"result": result}
        if await self.store.call(self.store.finish, job.id, status, attempt=job.run_attempt, **fields):
            self.metrics.jobs.labels(status).inc()
            log.info("job_finished", job_id=job.id, status=status, attempt=job.run_attempt)
            self._deliver.set()

    # -- callbacks ------------------------------------------------------------------------

    async def _deliveries(self) -> None:
        while True:
            try:
                await self._deliver_due()
                next_at = await self.store.call(self.store.next_delivery_at)
            except JobStoreError as exc:
                log.warning("jobs_db_unavailable", error=str(exc))
                next_at = None
            self._deliver.clear()
            poll = self.settings.job_poll_s
            timeout = poll if next_at is None else min(poll, max(0.01, next_at - time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._deliver.wait(), timeout=timeout)

    async def _deliver_due(self) -> None:
        now = time.time()
        if now >= self._next_purge:  # finished jobs (and their results) are kept only so long
            purged = await self.store.call(self.store.purge, now - self.settings.job_retention_s)
            if purged:
                log.info("jobs_purged", count=purged)
            self._next_purge = now + 60.0
        due = await self.store.call(self.store.due_deliveries, now, owner=self.owner, lease_s=self.delivery_lease_s)
        for job in due:
            if job.id not in self._in_flight:
                self._in_flight.add(job.id)
                task = asyncio.create_task(self._deliver_one(job))
                task.add_done_callback(lambda _t, jid=job.id: self._in_flight.discard(jid))

    async def _deliver_one(self, job: Job) -> None:
        attempt = job.attempts + 1
        try:
            await self.sender.send(job.callback_url or "", job.id, callback_body(job))
        except DeliveryError as exc:
            self.metrics.callbacks.labels("failed").inc()
            give_up = not exc.retryable or attempt >= self.settings.callback_max_attempts
            next_at = None if give_up else time.time() + backoff(
                attempt, self.settings.callback_backoff_s, self.settings.callback_backoff_max_s)
            await self._record(self.store.attempt_failed, job.id, attempt, str(exc), next_at)
            log.warning("callback_failed", job_id=job.id, attempt=attempt, gave_up=give_up, error=str(exc))
        except Exception as exc:
            log.error("callback_crashed", job_id=job.id, error=type(exc).__name__)
            await self._record(self.store.attempt_failed, job.id, attempt, f"internal error: {type(exc).__name__}",
                               None)
        else:
            self.metrics.callbacks.labels("delivered").inc()
            await self._record(self.store.delivered, job.id, attempt)
            log.info("callback_delivered", job_id=job.id, attempt=attempt)
        finally:
            self._deliver.set()

    async def _record(self, method, *args) -> None:
        """Store a delivery outcome; if the database is away, the lease runs out and the
        callback is sent again (at-least-once)."""
        try:
            await self.store.call(method, *args)
        except JobStoreError as exc:
            log.warning("callback_outcome_not_recorded", error=str(exc))
