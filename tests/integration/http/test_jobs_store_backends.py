"""The job-store contract on both backends: SQLite (a file) and a real PostgreSQL server.

Leases, fencing, the run history, ownership by key hash, the queued-jobs cap, delivery
leases, versioned migrations, and many claimers on two store instances (two "replicas")
never running a job twice.
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from pipeline.http.jobs import JobConflictError, JobNotFoundError, JobQueueFullError, JobStoreError, open_job_store
from pipeline.http.jobs.schema import LATEST

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.sqlite3'}"
    return request.getfixturevalue("postgres_dsn")


@pytest.fixture()
def store(db):
    s = open_job_store(db)
    yield s
    s.close()


def test_an_expired_lease_is_taken_over_and_the_old_run_can_no_longer_record(store):
    store.create("a", b'{"inputs":["x"]}', "http://h/cb", None)
    first = store.claim_next("replica-a", lease_s=0.2)
    assert (first.status, first.run_attempt, first.lease_owner) == ("running", 1, "replica-a")
    assert store.claim_next("replica-b", lease_s=30) is None  # leased: nobody else gets it
    time.sleep(0.3)
    second = store.claim_next("replica-b", lease_s=30)
    assert (second.id, second.run_attempt, second.lease_owner) == ("a", 2, "replica-b")
    assert store.renew("a", 1, 30) == "lost"  # replica-a wakes up: it must stop
    assert not store.finish("a", "succeeded", result=b'["stale"]', attempt=1)
    assert store.renew("a", 2, 30) == "held"
    assert store.finish("a", "succeeded", result=b'["fresh"]', attempt=2)
    done = store.get("a")
    assert done.result == b'["fresh"]' and done.delivery == "pending" and done.lease_owner is None
    assert [(r.attempt, r.owner, r.outcome) for r in store.runs("a")] == [
        (1, "replica-a", "lost"), (2, "replica-b", "succeeded")]


def test_a_job_belongs_to_the_key_that_created_it(store):
    store.create("mine", b"{}", None, None, key_hash="k1")
    assert store.require("mine", "k1").id == "mine"
    for other in ("k2", None):
        with pytest.raises(JobNotFoundError) as wrong:
            store.require("mine", other)
        with pytest.raises(JobNotFoundError) as missing:
            store.require("absent", other)
        assert str(wrong.value) == str(missing.value).replace("absent", "mine")
        with pytest.raises(JobNotFoundError):
            store.cancel("mine", other)
    assert store.get("mine").status == "queued"
    assert store.cancel("mine", "k1").status == "cancelled"


def test_queued_jobs_are_capped(db):
    capped = open_job_store(db, max_queued=2)
    try:
        capped.create("a", b"{}", None, None)
        capped.create("b", b"{}", None, None)
        with pytest.raises(JobQueueFullError) as full:
            capped.create("c", b"{}", None, None)
        assert full.value.limit == 2 and capped.get("c") is None
        capped.claim_next("r")  # a running job no longer counts as queued
        capped.create("c", b"{}", None, None)
    finally:
        capped.close()


def test_cancelling_a_running_job_tells_its_runner_at_the_next_renewal(store):
    store.create("a", b"{}", "http://h/cb", None)
    job = store.claim_next("r", lease_s=30)
    cancelled = store.cancel("a")
    assert cancelled.status == "cancelled" and cancelled.delivery == "pending" and cancelled.request is None
    assert store.renew("a", job.run_attempt, 30) == "cancelled"
    assert not store.finish("a", "succeeded", result=b"[]", attempt=job.run_attempt)
    assert store.get("a").status == "cancelled"
    assert [r.outcome for r in store.runs("a")] == ["cancelled"]
    with pytest.raises(JobConflictError):
        store.cancel("a")


def test_a_callback_is_leased_to_one_replica_and_retaken_when_the_lease_runs_out(store):
    store.create("a", b"{}", "http://h/cb", None)
    job = store.claim_next("r")
    store.finish("a", "succeeded", result=b"[]", attempt=job.run_attempt)
    now = time.time() + 0.01
    (leased,) = store.due_deliveries(now, owner="replica-a", lease_s=0.3)
    assert leased.delivery_owner == "replica-a"
    assert store.due_deliveries(now, owner="replica-b", lease_s=30) == []
    assert store.next_delivery_at() == pytest.approx(leased.delivery_lease_until)
    (retaken,) = store.due_deliveries(now + 0.5, owner="replica-b", lease_s=30)  # replica-a died mid-POST
    assert retaken.delivery_owner == "replica-b"
    store.delivered("a", 1)
    store.attempt_failed("a", 1, "timeout", next_at=now + 5)  # replica-a's late failure report
    assert store.get("a").delivery == "delivered"
    assert store.purge(older_than=time.time() + 1) == 1
    assert store.get("a") is None and store.runs("a") == []


def test_the_schema_is_versioned_and_a_newer_one_is_refused(db):
    first = open_job_store(db)
    assert first.schema_version() == LATEST
    first.close()
    again = open_job_store(db)  # migrating twice is a no-op
    assert again.schema_version() == LATEST
    with again._tx() as tx:
        tx.run("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (LATEST + 1, time.time()))
    again.close()
    with pytest.raises(JobStoreError, match="upgrade ner-stage"):
        open_job_store(db)


def test_replicas_starting_together_migrate_once(postgres_dsn):
    stores, errors = [], []

    def start() -> None:
        try:
            stores.append(open_job_store(postgres_dsn, pool_size=1))
        except Exception as exc:  # recorded and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert errors == [] and len(stores) == 4
        with psycopg.connect(postgres_dsn) as conn:
            versions = [v for (v,) in conn.execute("SELECT version FROM schema_version ORDER BY version")]
        assert versions == list(range(1, LATEST + 1))
    finally:
        for s in stores:
            s.close()


def test_many_claimers_on_two_replicas_run_every_job_exactly_once(db):
    replicas = [open_job_store(db), open_job_store(db)]
    ids = [f"job-{i:03d}" for i in range(200)]
    for i, job_id in enumerate(ids):
        replicas[i % 2].create(job_id, b"{}", None, None)
    ran: dict[str, list[str]] = {}
    lock = threading.Lock()

    def work(replica, name: str) -> None:
        while (job := replica.claim_next(name, lease_s=30)) is not None:
            with lock:
                ran.setdefault(job.id, []).append(name)
            assert replica.finish(job.id, "succeeded", result=b"[]", attempt=job.run_attempt)

    threads = [threading.Thread(target=work, args=(replicas[i % 2], f"r{i % 2}-t{i}")) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    try:
        assert sorted(ran) == ids and all(len(v) == 1 for v in ran.values())
        for job_id in ids:
            job = replicas[0].get(job_id)
            assert (job.status, job.run_attempt) == ("succeeded", 1)
            assert [r.outcome for r in replicas[1].runs(job_id)] == ["succeeded"]
        assert {name.split("-")[0] for names in ran.values() for name in names} == {"r0", "r1"}
    finally:
        for r in replicas:
            r.close()
