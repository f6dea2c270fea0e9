"""The folder broker from a test's side: a broker folder of the test's own, and producers and consumers in
processes of their own (`python -m tests.support.broker <command> ...`)."""
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from kombu import Connection

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


def produce(folder: str, queue: str, record: str, prefix: str, count: str, size: str, pause: str, go: str) -> dict:
    """Queue `count` record tasks, `<prefix>-<i>`, each carrying `size` characters, `pause` seconds apart."""
    _wait_for(Path(go))
    payload = uuid.uuid4().hex * (int(size) // 32) + "x" * (int(size) % 32)
    tokens = [f"{prefix}-{i}" for i in range(int(count))]
    with connection(Path(folder)) as conn:
        for token in tokens:
            send(conn, queue, "broker_tests.record", record, token, payload, time.time())
            time.sleep(float(pause))
    return {"sent": tokens}


def consume(folder: str, queue: str, stop: str, go: str) -> dict:
    """Take messages from `queue` until `stop` exists, listing the folder again as soon as it finds none: a
    reader that would meet any message file before it is whole. Reports each task's token and payload length."""
    _wait_for(Path(go))
    got, errors = [], []
    with connection(Path(folder)) as conn:
        channel = conn.channel()
        while not Path(stop).exists():
            try:
                message = channel.basic_get(queue)
            except Exception as exc:  # what would have stopped a worker
                errors.append(repr(exc))
                continue
            if message is not None:
                args = message.decode()[0]  # a Celery message: (args, kwargs, options)
                got.append([args[1], len(args[2])])
                message.ack()
    return {"got": got, "errors": errors[:10], "error_count": len(errors)}


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    print(json.dumps({"produce": produce, "consume": consume}[command](*arguments)))
