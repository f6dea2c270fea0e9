"""The folder broker (apps.core.folder_broker) under real `celery worker` processes and concurrent producers.

Each test has a broker folder of its own (DATA_DIR/celery of its workers), whatever broker the suite runs on.
"""
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
from kombu import Exchange, Queue

from tests.support import broker as support
from tests.support.workers import ROOT, Worker, Workers, wait_for

pytestmark = pytest.mark.worker


@dataclass
class Broker:
    folder: Path  # the broker's data_folder
    queue: str
    runs_file: Path  # where tests.support.broker_tasks record their runs
    workers: Workers

    def start(self, name: str) -> Worker:
        worker = self.workers.start(name, "-I", "tests.support.broker_tasks")
        assert wait_for(lambda: " ready." in worker.output(), timeout=60, workers=[worker]), worker.output()
        return worker

    def send(self, task: str, *args) -> None:
        with support.connection(self.folder) as conn:
            support.send(conn, self.queue, task, *args)

    def runs(self) -> Counter:
        """Runs per token."""
        lines = self.runs_file.read_text().splitlines() if self.runs_file.exists() else []
        return Counter(line.split()[0] for line in lines)

    def lengths(self) -> dict[str, set[int]]:
        """Payload lengths the record task saw, per token."""
        seen: dict[str, set[int]] = {}
        for line in self.runs_file.read_text().splitlines():
            token, length, _ = line.split()
            seen.setdefault(token, set()).add(int(length))
        return seen

    def files(self, sub: str) -> list[str]:
        """Message files under queue/, bad/ or processing/ (every consumer's folder)."""
        return sorted(path.name for path in (self.folder / sub).rglob("*.msg"))

    def produce(self, producers: int, count: int, size: int, pause: float = 0.0) -> set[str]:
        """Start `producers` processes queueing `count` record tasks of `size` characters each, `pause` seconds
        apart, all at once; the tokens they sent."""
        go = self.runs_file.with_name(f"go-{uuid.uuid4().hex}")
        processes = [support.run("produce", str(self.folder), self.queue, str(self.runs_file), f"p{i}", str(count),
                                 str(size), str(pause), str(go)) for i in range(producers)]
        go.touch()
        return {token for process in processes for token in support.result(process)["sent"]}


@pytest.fixture
def broker(tmp_path, celery_queue):
    workers = Workers(celery_queue, tmp_path)
    # Everything in this test's folder: the broker and the workers' own files (they use no database).
    workers.env["DATA_DIR"] = str(tmp_path / "data")
    for name in ("REDIS_URL", "DATABASE_URL"):
        workers.env.pop(name, None)
    yield Broker(folder=tmp_path / "data" / "celery", queue=celery_queue, runs_file=tmp_path / "runs.txt",
                 workers=workers)
    workers.stop_all()


def _assert_alive_and_well(broker: Broker, *workers: Worker) -> None:
    for worker in workers:
        assert worker.process.poll() is None, worker.output()
        assert "Unrecoverable" not in worker.output()
    assert broker.files("bad") == []


def test_it_delivers_every_message_of_many_producers_to_a_worker_that_keeps_running(broker):
    worker = broker.start("consumer")

    # Paced so that the worker keeps up and lists the queue folder after every message, while others are written.
    sent = broker.produce(producers=6, count=40, size=1_000_000, pause=0.25)

    assert wait_for(lambda: set(broker.runs()) >= sent, timeout=120, workers=[worker]), \
        f"{len(sent - set(broker.runs()))} of {len(sent)} messages never ran"
    _assert_alive_and_well(broker, worker)
    assert set(broker.runs()) == sent


def test_a_consumer_never_reads_a_message_in_part(broker, tmp_path):
    go, stop = tmp_path / "go-consumers", tmp_path / "stop"
    consumers = [support.run("consume", str(broker.folder), broker.queue, str(stop), str(go)) for _ in range(3)]
    go.touch()

    size = 1_000_000  # milliseconds to encode and write: readers that list the folder meanwhile would see it in part
    try:
        sent = broker.produce(producers=4, count=20, size=size)
        drained = wait_for(lambda: broker.files("queue") == [] and broker.files("processing") == [], timeout=60)
    finally:
        stop.touch()
    results = [support.result(consumer) for consumer in consumers]
    assert drained
    assert [r["error_count"] for r in results] == [0, 0, 0], [r["errors"] for r in results]
    got = [tuple(item) for r in results for item in r["got"]]
    assert {token for token, _ in got} == sent
    assert {length for _, length in got} == {size}
    assert broker.files("bad") == []


def test_a_task_held_by_a_killed_worker_runs_on_the_next_one(broker, tmp_path):
    held = tmp_path / "held.txt"
    doomed = broker.start("doomed")
    broker.send("broker_tests.hold", str(held), "held")
    assert wait_for(lambda: held.exists(), timeout=60, workers=[doomed]), doomed.output()

    doomed.kill()  # the whole process group: the worker and its pool child, mid-task
    assert broker.files("processing") != [] and broker.files("queue") == []
    fresh = broker.start("fresh")

    assert wait_for(lambda: "held finished" in held.read_text(), timeout=60, workers=[fresh]), fresh.output()
    assert "Put 1 message(s) back in the queue" in fresh.output()
    assert wait_for(lambda: broker.files("processing") == [], timeout=10)  # acknowledged: gone
    owners = [path.name for path in (broker.folder / "processing").iterdir()]
    assert len(owners) == 1 and f"-{fresh.process.pid}-" in owners[0], "the dead worker's folder is still there"
    _assert_alive_and_well(broker, fresh)


def test_an_undecodable_message_goes_to_bad_and_the_worker_carries_on(broker):
    queue = broker.folder / "queue"
    queue.mkdir(parents=True)
    truncated = queue / f"{time.time_ns():020d}_{uuid.uuid4().hex}.{broker.queue}.msg"
    truncated.write_text('{"body": "eyJhIjog')
    not_a_message = queue / f"{time.time_ns():020d}_{uuid.uuid4().hex}.{broker.queue}.msg"
    not_a_message.write_text("[1, 2, 3]")
    worker = broker.start("consumer")

    broker.send("broker_tests.record", str(broker.runs_file), "after")

    assert wait_for(lambda: broker.runs() == {"after": 1}, timeout=60, workers=[worker]), worker.output()
    assert broker.files("bad") == sorted([truncated.name, not_a_message.name])
    for name in (truncated.name, not_a_message.name):
        assert f"Moved an undecodable message to {broker.folder / 'bad' / name}" in worker.output()
    assert worker.process.poll() is None and "Unrecoverable" not in worker.output()


def test_remote_control_answers_and_leaves_nothing_claimed(broker):
    worker = broker.start("consumer")

    ping = subprocess.run([sys.executable, "-m", "celery", "-A", "project", "inspect", "ping", "--timeout", "5",
                           "-d", f"consumer@{socket.gethostname()}"], cwd=ROOT, env=broker.workers.env,
                          capture_output=True, text=True, timeout=60)

    assert "pong" in ping.stdout, ping.stdout + ping.stderr
    # The broadcast is read without acknowledgement: nothing may stay claimed, to come back after a restart.
    assert broker.files("processing") == [] and broker.files("queue") == []
    _assert_alive_and_well(broker, worker)


def test_exchange_tables_are_never_read_in_part_nor_lose_a_binding(tmp_path):
    # Threads, each with a connection of its own: a file lock taken by one blocks the others as it would another
    # process, and every system call lets another thread run, so they interleave between any two file operations.
    binders, exchanges, prefix = 8, 30, uuid.uuid4().hex[:8]  # names this process's broker state has not seen
    barrier, stop, errors, reads = threading.Barrier(binders), threading.Event(), [], Counter()

    def bind(j: int) -> None:
        # All binders take each exchange at once: each table is created by several of them, then rewritten.
        with support.connection(tmp_path) as conn:
            for i in range(exchanges):
                barrier.wait()
                queue = Queue(f"{prefix}-q{j}-{i}", Exchange(f"{prefix}-{i}", type="fanout"))
                try:
                    queue(conn.default_channel).declare()
                except Exception as exc:  # what a starting worker would have raised
                    errors.append(f"bind: {exc!r}")

    def read(r: int) -> None:
        # As every publisher to an exchange does; a table seen shorter than before was read in part.
        seen = Counter()
        with support.connection(tmp_path) as conn:
            while not stop.is_set():
                for i in range(exchanges):
                    try:
                        size = len(conn.default_channel.get_table(f"{prefix}-{i}"))
                    except Exception as exc:  # what a publisher would have raised
                        errors.append(f"read: {exc!r}")
                        continue
                    if size < seen[i]:
                        errors.append(f"read: {prefix}-{i} had {seen[i]} bindings, then {size}")
                    seen[i] = max(seen[i], size)
                    reads[r] += 1

    readers = [threading.Thread(target=read, args=(r,)) for r in range(3)]
    binding = [threading.Thread(target=bind, args=(j,)) for j in range(binders)]
    try:
        for thread in readers + binding:
            thread.start()
        for thread in binding:
            thread.join(timeout=120)
    finally:
        stop.set()
        barrier.abort()
        for thread in readers + binding:
            thread.join(timeout=10)

    assert errors == []
    assert len(reads) == 3
    with support.connection(tmp_path) as conn:
        for i in range(exchanges):
            queues = sorted(row.queue for row in conn.default_channel.get_table(f"{prefix}-{i}"))
            assert queues == sorted(f"{prefix}-q{j}-{i}" for j in range(binders)), f"table {i} lost a binding"


def test_a_message_stays_on_disk_until_it_is_settled(tmp_path):
    folder = tmp_path / "celery"

    def on_disk() -> tuple[int, int]:
        return len(list((folder / "queue").glob("*.msg"))), len(list((folder / "processing").rglob("*.msg")))

    with support.connection(folder) as conn:
        queue = conn.SimpleQueue("settle")
        queue.put("acked")
        message = queue.get(timeout=1)
        assert on_disk() == (0, 1)
        message.ack()
        assert on_disk() == (0, 0)

        queue.put("requeued")
        queue.get(timeout=1).requeue()
        assert on_disk() == (1, 0)
        again = queue.get(timeout=1)
        assert again.payload == "requeued" and again.delivery_info["redelivered"]
        again.reject()
        assert on_disk() == (0, 0)

        queue.put("unacknowledged")
        assert queue.get(timeout=1).payload == "unacknowledged"
        queue.close()
    assert on_disk() == (1, 0)  # the channel closed: put back
