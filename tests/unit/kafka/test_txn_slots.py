"""Exactly-once transactional ids: one per live process (slots held by ``flock``), the same one
for a restart (the lock dies with the process), and a fenced worker stops with exit 2 and one
line naming the id (``txn_slots.py``, ``Worker._ours``)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from confluent_kafka import KafkaError, KafkaException

from pipeline.kafka.clients import mapped
from pipeline.kafka.errors import FatalBrokerError, FencedError, ProcessingError
from pipeline.kafka.supervisor import EXIT_STAGE_ERROR, exit_status
from pipeline.kafka.txn_slots import claim
from pipeline.kafka.worker import Worker


def test_live_holders_get_distinct_slots_and_a_freed_slot_is_reused(tmp_path):
    first, held_first = claim("ner-stage-g-host-0", str(tmp_path))
    second, held_second = claim("ner-stage-g-host-0", str(tmp_path))
    assert (first, second) == ("ner-stage-g-host-0", "ner-stage-g-host-0.1")
    held_first.close()  # the process of slot 0 died: its restart takes slot 0 (and fences the zombie)
    again, held_again = claim("ner-stage-g-host-0", str(tmp_path))
    assert again == "ner-stage-g-host-0"
    held_second.close()
    held_again.close()


def test_a_slot_is_freed_when_its_process_dies_however_it_dies(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pipeline.kafka.txn_slots import claim; "
        f"txn, held = claim('t-0', {str(tmp_path)!r}); print(txn, flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "t-0"
        taken, held = claim("t-0", str(tmp_path))
        assert taken == "t-0.1"  # a live process holds slot 0
        held.close()
    finally:
        holder.kill()  # SIGKILL: no clean-up runs
        holder.wait()
    taken, held = claim("t-0", str(tmp_path))
    assert taken == "t-0"
    held.close()


def test_an_unusable_lock_directory_falls_back_to_the_base_id(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert claim("t-0", str(blocker / "sub")) == ("t-0", None)


class _Stub:
    transactional_id = "ner-stage-g-host-0.1"
    _ours = Worker._ours


def test_a_fenced_producer_becomes_one_fenced_error_naming_its_id_and_exits_2():
    fenced = FatalBrokerError("commit transaction failed: Producer fenced", code="_FENCED")
    try:  # how it arrives from inside a rebalance callback: a SystemError caused by ours
        raise SystemError("<built-in method consume> returned a result with an exception set") from fenced
    except SystemError as wrapped:
        ours = _Stub()._ours(wrapped)
    assert isinstance(ours, FencedError) and exit_status(ours) == EXIT_STAGE_ERROR
    assert "fenced" in str(ours) and "transactional.id ner-stage-g-host-0.1" in str(ours)
    stage = ProcessingError("redaction failed")  # any stage error wrapped the same way: ours again, exit 2
    try:
        raise SystemError("returned a result with an exception set") from stage
    except SystemError as wrapped:
        assert _Stub()._ours(wrapped) is stage
    bug = RuntimeError("a bug")
    assert _Stub()._ours(bug) is bug


def test_a_kafka_exception_set_by_the_extension_is_typed_and_a_fenced_one_named():
    raw = KafkaException(KafkaError(KafkaError._FENCED, "This instance has been fenced by a newer instance",
                                    fatal=True))
    try:  # how confluent-kafka reports it from consume() during a rebalance: no traceback of its own
        raise SystemError("<built-in method consume> returned a result with an exception set") from raw
    except SystemError as wrapped:
        ours = _Stub()._ours(wrapped)
        with pytest.raises(FatalBrokerError) as typed_error, mapped("consume"):  # the client edge does the same
            raise wrapped
    assert isinstance(ours, FencedError) and "ner-stage-g-host-0.1" in str(ours)
    assert typed_error.value.code == "_FENCED"
