"""Real `celery -A project worker` processes for tests: on the test's database, folders and queue."""
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.storage import storages
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    """The test database, as a URL for a worker process."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@dataclass
class Worker:
    """One `celery worker` process (with its pool child, in a process group of their own) and its log."""

    name: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def tasks(self, task: str, event: str) -> int:
        """How many `task` messages this worker logged as `event` (received, succeeded)."""
        return len(re.findall(rf"Task apps\.[a-z]+\.tasks\.{task}\[[0-9a-f-]+\] {event}", self.output()))

    def kill(self) -> None:
        """SIGKILL the worker and its pool child at once, as when its machine or container dies."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        deadline = time.monotonic() + 10  # the pool child goes a moment later
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.02)


class Workers:
    """Starts named workers; `stop_all` ends them (all at once: a warm shutdown takes seconds each)."""

    def __init__(self, queue: str, logs: Path):
        self.queue, self.logs = queue, logs
        self.started: list[Worker] = []
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DATA_DIR": str(settings.DATA_DIR),
            "BLOCKLISTS_DIR": str(storages["blocklists"].location),
            "INDEX_DIR": str(settings.INDEX_DIR),
            "AUDIT_DIR": str(settings.AUDIT_DIR),
            "CELERY_QUEUE": queue,
            "WEBHOOKS_ALLOW_PRIVATE_ADDRESSES": "true",
        }
        if settings.REDIS_URL:
            self.env["REDIS_URL"] = settings.REDIS_URL

    def start(self, name: str, *options: str, beat: bool = False, env: dict | None = None) -> Worker:
        """A worker (with beat in it, as ./run starts one, when `beat`), with extra environment variables;
        `options` go to `celery worker` too (e.g. "-I", "some.tasks")."""
        log = self.logs / f"worker-{name}.log"
        args = [sys.executable, "-m", "celery", "-A", "project", "worker", "-Q", self.queue, "-n", f"{name}@%h",
                "--concurrency", "1", "--loglevel", "INFO", "--without-heartbeat", "--without-gossip",
                "--without-mingle", *options]
        if beat:
            args += ["--beat", "--schedule", str(self.logs / f"beat-{name}")]
        with open(log, "w") as out:
            process = subprocess.Popen(args, cwd=ROOT, env={**self.env, **(env or {})}, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        worker = Worker(name=name, process=process, log=log)
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        running = [w for w in self.started if w.process.poll() is None]
        for worker in running:
            worker.process.send_signal(signal.SIGTERM)
        for worker in running:
            try:
                worker.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()


def wait_for(condition, *, timeout: float = 120.0, workers: list[Worker] = (), interval: float = 0.2) -> bool:
    """Poll `condition` until it holds; a worker that exits meanwhile fails the test with its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        for worker in workers:
            if worker.process.poll() is not None:
                raise AssertionError(f"worker {worker.name} exited early:\n{worker.output()}")
        time.sleep(interval)
    return False
