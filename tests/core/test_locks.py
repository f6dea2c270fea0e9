"""in_turns: a long job's write transactions leave SQLite's write lock to a writer that waits for it."""
import sqlite3
import threading
import time

import pytest
from django.db import connection, transaction

from apps.core.locks import in_turns

BATCHES = 20


def _job(path, turns, committed: list, started: threading.Event) -> None:
    """Twenty write transactions of 50 ms in a row, as request_match writes its matches."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    for n in turns(range(BATCHES)):
        db.execute("BEGIN IMMEDIATE")
        started.set()
        time.sleep(0.05)  # writing a batch
        db.execute("INSERT INTO t VALUES ('job')")
        db.execute("COMMIT")
        committed.append(n)
    db.close()


def _batches_before_a_writer_got_in(path, turns) -> int:
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (who TEXT)")
    setup.close()
    committed, started = [], threading.Event()
    job = threading.Thread(target=_job, args=(path, turns, committed, started))
    job.start()
    assert started.wait(10)
    db = sqlite3.connect(path, isolation_level=None, timeout=30)  # a web request, waiting for the lock
    db.execute("BEGIN IMMEDIATE")
    got_in_after = len(committed)
    db.execute("INSERT INTO t VALUES ('web')")
    db.execute("COMMIT")
    db.close()
    job.join()
    return got_in_after


def test_it_lets_a_waiting_writer_in_after_a_fifth_of_a_second_of_writing(tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL locks rows: nothing waits for a database-wide write lock")
    assert _batches_before_a_writer_got_in(tmp_path / "db.sqlite3", in_turns) <= 6


def test_it_is_needed_because_without_it_the_writer_waits_for_every_batch(tmp_path):
    # SQLite keeps no queue: the waiting connection sleeps between tries and always finds the lock taken again.
    assert _batches_before_a_writer_got_in(tmp_path / "db.sqlite3", iter) == BATCHES


def test_it_does_not_pause_inside_an_outer_transaction(db, monkeypatch):
    # The outer transaction holds the write lock until it ends: a pause would only make the job slower.
    monkeypatch.setattr("apps.core.locks._SQLITE_TURN_SECONDS", 10)
    with transaction.atomic():
        start = time.monotonic()
        for _ in in_turns(range(5)):
            time.sleep(0.1)
        assert time.monotonic() - start < 5
