"""Locks, one module for all of them: writers that must commit in order, work one process does at a time, and
long jobs that leave SQLite's write lock to others between their transactions.

Every lock here dies with its holder, however it dies: PostgreSQL drops a
killed process's advisory locks with its connection, and the kernel its locks
on files. So work taken over from a dead worker never runs beside a live one.
"""
import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, connection

T = TypeVar("T")


def _key(name: str) -> int:
    """A 64-bit advisory lock key for a name (signed, as PostgreSQL takes it)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def serialize(name: str) -> None:
    """Hold a lock named `name` until the current transaction ends.

    PostgreSQL gets a transaction-scoped advisory lock. SQLite needs nothing:
    every write transaction is already exclusive (transaction_mode=IMMEDIATE).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_key(name)])


# SQLite's busy handler (sqlite3_busy_timeout) sleeps at most 100 ms between two tries for the write lock: a
# pause longer than that lets a waiting writer in. A job pauses after writing for _SQLITE_STRETCH_SECONDS.
_SQLITE_TURN_SECONDS = 0.15
_SQLITE_STRETCH_SECONDS = 0.2


def in_turns(batches: Iterable[T]) -> Iterator[T]:
    """The batches of a long job, each for a write transaction of its own, with turns for other writers between.

    SQLite has one write lock and no queue for it: a connection that waits
    tries again by itself, sleeping up to 100 ms between tries, so a job that
    begins its next transaction as soon as it commits keeps the lock until the
    whole job ends, however short each transaction is. So after every 0.2 s of
    writing, the job pauses a little longer than those sleeps, and a web
    request waiting to write waits for that stretch at most. PostgreSQL locks
    rows, not the database; inside an outer transaction the lock is held
    anyway: no pauses then.
    """
    pace = connection.vendor == "sqlite" and not connection.in_atomic_block
    since = time.monotonic()
    for batch in batches:
        if pace and time.monotonic() - since >= _SQLITE_STRETCH_SECONDS:
            time.sleep(_SQLITE_TURN_SECONDS)
            since = time.monotonic()
        yield batch


@contextlib.contextmanager
def file_lock(path: Path, *, wait: bool = True) -> Iterator[bool]:
    """An exclusive lock on a file (created if missing), across processes on the machines sharing it;
    yields whether it is held (always True when `wait`)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            locked = True
        except BlockingIOError:
            locked = False
        yield locked
    finally:
        os.close(fd)  # which lets go of the lock


@contextlib.contextmanager
def held(name: str, *, wait: bool = True) -> Iterator[bool]:
    """Hold the lock `name` for the block, outside any transaction; yields whether it is held.

    PostgreSQL: a session advisory lock, so processes on every machine share
    it. SQLite (one machine): a file lock under DATA_DIR/locks, named for the
    database file too, so two databases (test runs side by side) never share one.
    """
    if connection.vendor != "postgresql":
        digest = hashlib.sha256(f"{connection.settings_dict['NAME']}\n{name}".encode()).hexdigest()[:32]
        with file_lock(Path(settings.DATA_DIR) / "locks" / f"{digest}.lock", wait=wait) as locked:
            yield locked
        return
    key = _key(name)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)" if wait else "SELECT pg_try_advisory_lock(%s)", [key])
        row = cursor.fetchone()
    locked = True if wait else bool(row[0])
    try:
        yield locked
    finally:
        if locked:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
            except DatabaseError:
                connection.close()  # which lets go of the lock too
