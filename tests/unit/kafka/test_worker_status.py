"""WorkerStatus on a fake clock: health follows the loop's turns, readiness needs partitions, the
progress line comes every interval with the rate since the last line."""

from __future__ import annotations

from pipeline.kafka.status import WorkerStatus


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_health_readiness_and_progress():
    clock = Clock()
    status = WorkerStatus(3, progress_interval_s=30, health_stall_s=60, clock=clock)
    assert status.health() == (False, "starting") and status.readiness()[0] is False
    status.turned()
    assert status.health() == (True, "ok") and status.readiness() == (False, "no partitions assigned")
    status.assigned, status.records_in, status.outputs, status.dead_letters = 2, 60, 118, 1
    status.lag[("documents", 0)] = 7
    assert status.readiness() == (True, "ready")
    clock.now += 61  # a batch stuck in the engine: the loop did not turn
    assert status.health()[0] is False and "61s" in status.health()[1] and status.readiness()[0] is False
    line = status.progress()
    assert line == {"worker": 3, "records_in": 60, "outputs": 118, "dead_letters": 1, "docs_per_s": round(60 / 61, 2),
                    "lag": {"documents[0]": 7}}
    status.released({("documents", 0)})
    assert status.progress()["lag"] == {} and status.progress()["docs_per_s"] == 0
