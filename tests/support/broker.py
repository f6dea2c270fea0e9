"""The folder broker from a test's side: a broker folder of the test's own, and producers, binders and table
readers in processes of their own (`python -m tests.support.broker <command> ...`)."""
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from kombu import Connection, Exchange, Queue

from project.celery import app  # also registers the folder:// scheme

ROOT = Path(__file__).resolve().parents[2]


def connection(folder: Path) -> Connection:
    """A connection to the folder broker in `folder` (DATA_DIR/celery of the workers that consume it)."""
    return Connection("folder://", transport_options={"data_folder": str(folder), "polling_interval": 0.1})


def send(conn: Connection, queue: str, task: str, *args) -> None:
    """Queue a task by name, as the product's code does with .delay()."""
    app.send_task(task, args=list(args), queue=queue, connection=conn)


def run(*args: str, env: dict | None = None) -> subprocess.Popen:
    """Start `python -m tests.support.broker <args>`; its stdout is one JSON line."""
    return subprocess.Popen([sys.executable, "-m", "tests.support.broker", *args], cwd=ROOT,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def result(process: subprocess.Popen, timeout: float = 120) -> dict:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return json.loads(out)


def _wait_for(path: Path) -> None:
    # Processes start at different speeds: they begin together once the test creates `path`.
    deadline = time.monotonic() + 60
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)


def produce(folder: str, queue: str, record: str, prefix: str, count: str, size: str, go: str) -> dict:
    """Queue `count` record tasks, `<prefix>-<i>`, each carrying `size` characters."""
    _wait_for(Path(go))
    payload = uuid.uuid4().hex * (int(size) // 32) + "x" * (int(size) % 32)
    tokens = [f"{prefix}-{i}" for i in range(int(count))]
    with connection(Path(folder)) as conn:
        for token in tokens:
            send(conn, queue, "broker_tests.record", record, token, payload, time.time())
    return {"sent": tokens}


def bind(folder: str, prefix: str, exchanges: str, go: str) -> dict:
    """Bind a queue `<prefix>-<i>` to each fanout exchange `table-<i>`, as every consumer of a broadcast does."""
    _wait_for(Path(go))
    with connection(Path(folder)) as conn:
        channel = conn.default_channel
        for i in range(int(exchanges)):
            Queue(f"{prefix}-{i}", Exchange(f"table-{i}", type="fanout"))(channel).declare()
    return {}


def read(folder: str, exchanges: str, stop: str, go: str) -> dict:
    """Read the tables `table-<i>` until `stop` exists, as every publisher to an exchange does; report what
    went wrong: errors, and tables seen shorter than before (a binding lost or a file read in part)."""
    _wait_for(Path(go))
    errors, shrunk, reads, seen = [], 0, 0, {}
    with connection(Path(folder)) as conn:
        channel = conn.default_channel
        while not Path(stop).exists():
            for i in range(int(exchanges)):
                try:
                    size = len(channel.get_table(f"table-{i}"))
                except Exception as exc:  # what a publisher would have raised
                    errors.append(repr(exc))
                    continue
                reads += 1
                shrunk += size < seen.get(i, 0)
                seen[i] = max(size, seen.get(i, 0))
    return {"reads": reads, "errors": errors[:10], "error_count": len(errors), "shrunk": shrunk}


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    print(json.dumps({"produce": produce, "bind": bind, "read": read}[command](*arguments)))
