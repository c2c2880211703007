import orjson
import pytest

from pipeline.http.jobs import JobConflictError, JobNotFoundError
from pipeline.http.jobs.sqlite import SqliteJobStore
from pipeline.http.runner import callback_body


@pytest.fixture()
def store():
    s = SqliteJobStore(":memory:")
    yield s
    s.close()


def test_jobs_run_in_arrival_order_and_record_their_result(store):
    store.create("a", b'{"inputs":["x"]}', "https://h/cb", b'{"k":"v"}')
    store.create("b", b'{"inputs":["y"]}', None, None)
    first = store.claim_next()
    assert first.id == "a" and first.status == "running"
    assert store.finish("a", "succeeded", result=b"[[]]")
    done = store.get("a")
    assert done.status == "succeeded" and done.request is None  # the text is not kept after the job
    assert done.delivery == "pending"
    assert store.claim_next().id == "b"
    store.finish("b", "succeeded", result=b"[[]]")
    assert store.get("b").delivery == "none"  # no callback to deliver
    assert store.claim_next() is None


def test_recover_requeues_jobs_that_were_running_when_the_process_died(store):
    store.create("a", b"{}", None, None)
    store.claim_next()
    assert store.recover() == 1
    assert store.get("a").status == "queued"
    assert store.claim_next().id == "a"


def test_cancel_rules(store):
    store.create("a", b"{}", "https://h/cb", None)
    cancelled = store.cancel("a")
    assert cancelled.status == "cancelled" and cancelled.delivery == "pending"
    with pytest.raises(JobConflictError):
        store.cancel("a")
    with pytest.raises(JobNotFoundError):
        store.cancel("nope")
    store.create("b", b"{}", None, None)
    store.claim_next()
    store.cancel("b")
    assert not store.finish("b", "succeeded", result=b"[]")  # a cancelled job keeps its state


def test_delivery_bookkeeping_and_purge(store):
    store.create("a", b"{}", "https://h/cb", None)
    store.claim_next()
    store.finish("a", "succeeded", result=b"[]")
    (due,) = store.due_deliveries(now=store.get("a").next_attempt_at + 1)
    store.attempt_failed("a", 1, "HTTP 500", next_at=due.next_attempt_at + 10)
    assert store.due_deliveries(now=due.next_attempt_at + 1) == []
    assert store.next_delivery_at() == pytest.approx(due.next_attempt_at + 10)
    store.attempt_failed("a", 2, "HTTP 500", next_at=None)
    failed = store.get("a")
    assert failed.delivery == "failed" and failed.attempts == 2 and failed.last_error == "HTTP 500"
    assert store.purge(older_than=failed.updated_at + 1) == 1
    assert store.get("a") is None


def test_callback_body_carries_result_or_error_and_metadata(store):
    store.create("a", b"{}", "https://h/cb", b'{"batch":"7"}')
    store.claim_next()
    store.finish("a", "succeeded", result=b'[[{"token":"x"}]]')
    assert orjson.loads(callback_body(store.get("a"))) == {
        "job_id": "a", "status": "succeeded", "result": [[{"token": "x"}]], "metadata": {"batch": "7"}}
    store.create("b", b"{}", "https://h/cb", None)
    store.claim_next()
    store.finish("b", "failed", error=b'{"error":"bad","error_type":"validation","field":"inputs","limit":1}')
    body = orjson.loads(callback_body(store.get("b")))
    assert body["status"] == "failed" and body["error"]["field"] == "inputs" and body["metadata"] is None


def test_a_store_file_from_before_versioning_is_migrated_with_its_jobs(tmp_path):
    import sqlite3

    from pipeline.http.jobs import schema

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:  # the version-1 tables, as the unversioned store wrote them
        old.executescript(schema.MIGRATIONS[0][1].format(blob="BLOB", real="REAL") + ";")
        old.execute("INSERT INTO jobs (id, status, request, created_at, updated_at, delivery) "
                    "VALUES ('old', 'queued', x'7b7d', 1.0, 1.0, 'none')")
    store = SqliteJobStore(path)
    try:
        assert store.schema_version() == schema.LATEST
        job = store.claim_next("r")
        assert (job.id, job.request, job.key_hash, job.run_attempt) == ("old", b"{}", None, 1)
    finally:
        store.close()


@pytest.mark.parametrize(("spec", "name"), [("jobs.db", "jobs.db"), ("sqlite:///jobs.db", "jobs.db"),
                                            ("sqlite:///sub/jobs.db", "sub/jobs.db")])
def test_jobs_db_names_a_sqlite_file_by_path_or_url(tmp_path, monkeypatch, spec, name):
    from pipeline.http.jobs import open_job_store

    monkeypatch.chdir(tmp_path)
    store = open_job_store(spec)
    store.close()
    assert (tmp_path / name).is_file()
    absolute = open_job_store(f"sqlite:///{tmp_path / 'abs.db'}")  # sqlite:////abs/path
    absolute.close()
    assert (tmp_path / "abs.db").is_file()


@pytest.mark.parametrize("spec", ["mysql://u:p@h/db", "sqlite://jobs.db"])
def test_unknown_jobs_db_schemes_are_refused_naming_the_setting(spec):
    from pipeline.http.jobs import JobStoreError, open_job_store

    with pytest.raises(JobStoreError) as refused:
        open_job_store(spec)
    assert refused.value.field == "jobs_db"


def test_the_creator_key_is_stored_as_a_hash_and_other_keys_see_no_job(store):
    from pipeline.http.auth import key_hash

    mine = key_hash(b"key-one")
    assert mine == "9b346041bc9a49574eb2665b2ad2a0a3f9f9cce4e42f5d1f26deb8a256b5966a"  # sha256, never the key
    store.create("a", b"{}", None, None, key_hash=mine)
    assert store.require("a", mine).key_hash == mine
    with pytest.raises(JobNotFoundError):
        store.require("a", key_hash(b"key-two"))
