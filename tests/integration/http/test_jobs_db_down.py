"""PostgreSQL stopped under a real server (issue 21): every job route answers 503 +
``Retry-After`` quickly (a bounded connection wait, then the store's breaker), concurrent
requests do not queue behind the store's threads, and the routes recover once the database is
back. The database is a private PostgreSQL server (the session one is shared by other tests)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.integration.http.conftest import start_server, wait_job
from tests.integration.pg import PostgresServer, find_bin
from tests.integration.requires import skip_or_fail

pytestmark = pytest.mark.integration

#: a job route must answer within this while the database is down (the issue asks <= 2 s; slack for a loaded CI box)
ANSWER_WITHIN_S = 5.0


@pytest.fixture()
def own_postgres():
    bindir = find_bin()
    if bindir is None:
        skip_or_fail("PostgreSQL binaries not found (scripts/install-postgres.sh installs Debian postgresql)")
    server = PostgresServer(bindir).start()
    try:
        yield server
    finally:
        server.stop()


def _timed(client, method: str, path: str, **kw) -> tuple[float, object]:
    started = time.monotonic()
    response = client.request(method, path, **kw)
    return time.monotonic() - started, response


def test_job_routes_fail_fast_while_postgres_is_down_and_recover(rampart_service, tmp_path, own_postgres):
    dsn = own_postgres.create_database()
    with start_server(rampart_service, tmp_path, jobs_db=dsn, jobs_db_breaker_s=2.0) as srv, \
            srv.client() as client:
        accepted = client.post("/async/predict_tokens", json={"inputs": ["Maria Garcia lives in Berlin"]}).json()
        assert wait_job(client, accepted["job_id"])["status"] == "succeeded"
        job = f"/jobs/{accepted['job_id']}"
        own_postgres.halt()

        calls = [("GET", job, {})] * 8 + [("POST", "/async/predict_tokens", {"json": {"inputs": ["x"]}})] * 2 \
            + [("DELETE", job, {})] * 2
        with ThreadPoolExecutor(len(calls)) as pool:
            answers = list(pool.map(lambda call: _timed(client, call[0], call[1], **call[2]), calls))
        for elapsed, response in answers:
            assert response.status_code == 503, response.text
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["error_type"] == "unavailable"
            assert elapsed <= ANSWER_WITHIN_S, (elapsed, [round(e, 2) for e, _ in answers])
        # sequential requests while it stays down: each answered at once by the open breaker
        for _ in range(3):
            elapsed, response = _timed(client, "GET", job)
            assert response.status_code == 503 and elapsed <= ANSWER_WITHIN_S
        assert client.get("/health").status_code == 200
        assert client.post("/predict_tokens", json={"inputs": ["Maria"]}).status_code == 200  # no database needed

        own_postgres.resume()
        deadline = time.monotonic() + 60
        while (response := client.get(job)).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert response.status_code == 200 and response.json()["status"] == "succeeded"
