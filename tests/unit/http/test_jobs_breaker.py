"""The job store's breaker: open after an unreachable database, one probe when half-open."""

from __future__ import annotations

import time

import pytest

from pipeline.http.jobs import JobStoreUnavailableError
from pipeline.http.jobs.store import Breaker


def test_closed_until_a_failure_then_open_with_the_time_left_as_retry_after():
    breaker = Breaker(open_s=30.0)
    breaker.before()
    breaker.after(failed=False)
    breaker.before()
    breaker.after(failed=True)
    with pytest.raises(JobStoreUnavailableError) as refused:
        breaker.before(probe=False)
    assert 1 <= refused.value.retry_after <= 30


def test_half_open_lets_one_probe_through_and_its_outcome_decides():
    breaker = Breaker(open_s=0.05)
    breaker.after(failed=True)
    time.sleep(0.1)
    breaker.before(probe=False)  # a check that does not claim the probe passes
    breaker.before()  # the probe
    with pytest.raises(JobStoreUnavailableError):
        breaker.before()  # the others still fail fast while the probe runs
    breaker.after(failed=True)  # the probe failed: open again
    with pytest.raises(JobStoreUnavailableError):
        breaker.before()
    time.sleep(0.1)
    breaker.before()
    breaker.after(failed=False)  # the probe succeeded: closed
    for _ in range(3):
        breaker.before()
