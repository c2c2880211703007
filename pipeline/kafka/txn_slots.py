"""Exactly-once: one transactional id per live worker process, and the same id for its restart.

Kafka fences by transactional id: a producer that calls ``init_transactions`` with an id aborts
the open transaction of the previous producer with that id and makes it unusable. That is what
a restarted worker wants (its dead or hung predecessor, the zombie, can no longer commit, and its
open transaction is aborted at once instead of after ``transaction.timeout.ms``), and what two
live workers must never share: two ``worker --exactly-once`` processes on one host had the same
default id (prefix, host name, worker index) and fenced each other in turn.

So the id is claimed, not just computed: the base id (``KafkaSettings.producer_config``) is the
first slot, ``<base>.1``, ``<base>.2``, ... the next ones, and a process takes the first slot
whose lock file (``<tmp>/ner-stage-txn/<id>.lock``, ``flock``) no other live process holds.
The operating system releases the lock when a process dies, however it dies, so a restart takes
its predecessor's slot and fences its zombie; a second live process on the host takes the next
slot and fences nobody. On Kubernetes every pod has its own host name and ``/tmp``: slot 0, as
before. A zombie that is still alive (stopped, not dead) keeps its lock: the new process takes
another slot, and the zombie is fenced by the group instead (KIP-447: its transactional offset
commit carries a stale group generation and is refused, so its transaction aborts and none of
its outputs become visible to ``read_committed`` consumers).
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from typing import IO

import structlog

log = structlog.get_logger(__name__)
#: Slots tried before giving up on a free one (then the base id is used, as before).
MAX_SLOTS = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def lock_dir() -> str:
    return os.path.join(tempfile.gettempdir(), "ner-stage-txn")


def claim(base: str, directory: str | None = None) -> tuple[str, IO | None]:
    """The first free transactional id of ``base``'s slots and the open, locked file that holds
    it (keep it open for the life of the producer; closing it frees the slot)."""
    directory = directory or lock_dir()
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        log.warning("kafka.txn_slot_unavailable", directory=directory, reason=str(exc), transactional_id=base)
        return base, None
    for slot in range(MAX_SLOTS):
        txn_id = base if slot == 0 else f"{base}.{slot}"
        path = os.path.join(directory, _UNSAFE.sub("_", txn_id) + ".lock")
        try:
            handle = open(path, "a")  # noqa: SIM115 - held open on purpose: the lock lives as long as it
        except OSError as exc:
            log.warning("kafka.txn_slot_unavailable", directory=directory, reason=str(exc), transactional_id=base)
            return base, None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return txn_id, handle
    log.warning("kafka.txn_slots_exhausted", slots=MAX_SLOTS, transactional_id=base)
    return base, None
