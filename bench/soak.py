"""Soak of the embedded default: one `celery worker --beat` on the folder broker for N minutes under load.

The worker starts as `./run` starts it (SQLite, the folder broker, concurrency 2, embedded beat) on a fresh
DATA_DIR in a temporary folder, migrated first, with beat's schedules short (resume every second, reminders
and blocklist refresh every 5 s) so that beat sends due tasks all the time. It also imports the test tasks of
tests/support/broker_tasks.py, which record every run in a file. For N minutes this script queues a steady
stream of them, a fifth of them tasks that queue three more each, and every 30 s asks the worker for a
`celery inspect ping` (remote control). Meanwhile bench/soak_outbox.py logs and approves a removal request on
the demo release every --requests-every seconds, whose events (matching, publishing, the feed) the worker handles
through the outbox. Then it waits for the queue and the outbox to drain, stops the worker, and reports:
tasks sent and completed, lost (sent, never completed) and duplicates (ran more than once), beat's tasks sent
and completed, "Unrecoverable error" lines, worker restarts (its process must be the one started, alive to
the end, its consumer connected once), the worker's memory, the queue's latency, and the requests published
and the handler runs done, retried and dead.

`--broker filesystem` runs the same soak on the transport the product used before (kombu's filesystem://,
settings as they were), as the baseline.

Prints a summary and saves it as JSON in bench/out/soak-<broker>-<date>-<time>.json (or --out). Exits 1 on
any loss or crash.

Usage: python bench/soak.py [--minutes 30] [--rate 10] [--payload 0] [--requests-every 20]
                            [--broker folder|filesystem] [--work DIR] [--out FILE]
"""
from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SPAWN_CHILDREN = 3
PING_EVERY_SECONDS = 30
DRAIN_SECONDS = 120
BEAT_ENV = {"RESUME_INTERVAL_SECONDS": "1", "REMINDER_INTERVAL_SECONDS": "5",
            "BLOCKLIST_REFRESH_INTERVAL_SECONDS": "5"}
# The settings the product had before apps.core.folder_broker, for the baseline.
FILESYSTEM_SETTINGS = '''\
from project.settings import *  # noqa: F403

_celery_dir = DATA_DIR / "celery"  # noqa: F405
for _sub in ("queue", "processed", "control"):
    (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
CELERY_BROKER_URL = "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "data_folder_in": str(_celery_dir / "queue"),
    "data_folder_out": str(_celery_dir / "queue"),
    "processed_folder": str(_celery_dir / "processed"),
    "control_folder": str(_celery_dir / "control"),
    "store_processed": False,
}
'''


def environment(work: Path, broker: str) -> dict[str, str]:
    env = {**os.environ, **BEAT_ENV, "DATA_DIR": str(work / "data"), "PYTHONPATH": str(REPO),
           "DJANGO_SETTINGS_MODULE": "project.settings"}
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_QUEUE", "CELERY_TASK_ALWAYS_EAGER"):
        env.pop(name, None)  # the embedded default
    if broker == "filesystem":
        (work / "soak_filesystem_settings.py").write_text(FILESYSTEM_SETTINGS)
        env["PYTHONPATH"] = f"{REPO}{os.pathsep}{work}"
        env["DJANGO_SETTINGS_MODULE"] = "soak_filesystem_settings"
    return env


def rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants (the pool children, beat), in MiB."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
        pending += [int(child) for child in children]
    return round(total / 1024, 1)


def own_rss_mib(pid: int) -> float:
    try:
        return round(int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1)) / 1024, 1)
    except OSError:
        return 0.0


class Soak:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work or tempfile.mkdtemp(prefix=f"takedown-soak-{args.broker}-"))
        if args.work:
            shutil.rmtree(self.work, ignore_errors=True)
        (self.work / "data").mkdir(parents=True)
        self.env = environment(self.work, args.broker)
        self.runs = self.work / "runs.txt"
        self.log = self.work / "worker.log"
        self.worker: subprocess.Popen | None = None
        self.sent: list[str] = []
        self.spawned: list[str] = []
        self.pings = Counter()
        self.memory: list[tuple[float, float, float]] = []  # (seconds, worker alone, with children)
        self.died_after: float | None = None
        self.requests, self.stop_feeding = self.work / "requests.txt", self.work / "stop-feeding"
        self.outbox: dict = {}
        self.feeder_exit: int | None = None

    def start(self) -> None:
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=REPO, env=self.env, check=True)
        subprocess.run([PYTHON, "manage.py", "demo"], cwd=REPO, env=self.env, check=True, capture_output=True)
        data = self.work / "data"
        # As ./run starts it, with the test tasks imported too.
        command = [PYTHON, "-m", "celery", "-A", "project", "worker", "--beat", "--loglevel", "INFO",
                   "--concurrency", "2", "--pidfile", str(data / "worker.pid"),
                   "--schedule", str(data / "celery" / "beat-schedule"), "-I", "tests.support.broker_tasks"]
        with open(self.log, "w") as out:
            self.worker = subprocess.Popen(command, cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                           start_new_session=True)
        deadline = time.monotonic() + 60
        while " ready." not in self.log.read_text(errors="replace"):
            if self.worker.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the worker did not start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.2)

    def produce(self) -> None:
        """Queue `rate` tasks a second for `minutes`, from this process, as the web process would."""
        os.environ.update({k: v for k, v in self.env.items() if k in ("DATA_DIR", "DJANGO_SETTINGS_MODULE")})
        for name in ("DATABASE_URL", "REDIS_URL", "CELERY_QUEUE"):
            os.environ.pop(name, None)
        sys.path[:0] = [p for p in self.env["PYTHONPATH"].split(os.pathsep) if p not in sys.path]
        from project.celery import app

        payload = "x" * self.args.payload
        feeder = subprocess.Popen([PYTHON, str(REPO / "bench" / "soak_outbox.py"), "feed",
                                   str(self.args.requests_every), str(self.requests), str(self.stop_feeding)],
                                  cwd=REPO, env=self.env, start_new_session=True)
        started = time.monotonic()
        end = started + self.args.minutes * 60
        next_send, next_ping, next_sample, n, pinging = started, started + 5, started, 0, None
        while time.monotonic() < end:
            now = time.monotonic()
            if self.worker.poll() is not None:
                self.died_after = round(now - started, 1)
                print(f"the worker exited after {self.died_after} s", flush=True)
                break
            if now >= next_sample:
                self.memory.append((round(now - started), own_rss_mib(self.worker.pid), rss_mib(self.worker.pid)))
                next_sample += 10
            if now >= next_ping and (pinging is None or not pinging.is_alive()):
                # In a thread: a `celery inspect` process takes seconds to start, and the stream must stay steady.
                pinging = threading.Thread(target=self.ping, daemon=True)
                pinging.start()
                next_ping += PING_EVERY_SECONDS
            if now < next_send:
                time.sleep(min(next_send - now, 0.05))
                continue
            token = f"s{n}"
            if n % 5 == 4:
                app.send_task("broker_tests.spawn", args=[str(self.runs), token, SPAWN_CHILDREN, time.time()])
                self.spawned.append(token)
            else:
                app.send_task("broker_tests.record", args=[str(self.runs), token, payload, time.time()])
            self.sent.append(token)
            n += 1
            next_send += 1 / self.args.rate
            if n % round(self.args.rate * 60) == 0:
                print(f"{n} sent, {len(self.recorded())} completed, worker {own_rss_mib(self.worker.pid)} MiB",
                      flush=True)
        self.stop_feeding.touch()
        self.feeder_exit = feeder.wait(timeout=120)
        if pinging is not None:
            pinging.join()

    def ping(self) -> None:
        result = subprocess.run(
            [PYTHON, "-m", "celery", "-A", "project", "inspect", "ping", "--timeout", "5",
             "-d", f"celery@{socket.gethostname()}"], cwd=REPO, env=self.env, capture_output=True, text=True,
            timeout=60)
        self.pings["pong" if "pong" in result.stdout else "no answer"] += 1

    def expected(self) -> set[str]:
        return set(self.sent) | {f"{token}.{i}" for token in self.spawned for i in range(SPAWN_CHILDREN)}

    def recorded(self) -> Counter:
        lines = self.runs.read_text().splitlines() if self.runs.exists() else []
        return Counter(line.split()[0] for line in lines)

    def drain(self) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline and self.worker.poll() is None:
            if set(self.recorded()) >= self.expected():
                break
            time.sleep(0.5)
        if self.worker.poll() is None:
            result = subprocess.run([PYTHON, str(REPO / "bench" / "soak_outbox.py"), "tally",
                                     str(max(deadline - time.monotonic(), 10))], cwd=REPO, env=self.env,
                                    capture_output=True, text=True, timeout=DRAIN_SECONDS + 60)
            self.outbox = json.loads(result.stdout.strip().splitlines()[-1]) if result.returncode == 0 else {
                "error": result.stderr[-2000:]}

    def stop(self) -> None:
        pidfile = self.work / "data" / "worker.pid"
        self.pid_at_end = int(pidfile.read_text()) if pidfile.exists() else None
        # Beat is stopped with the worker, possibly between logging a due task and sending it: only the tasks it
        # logged before count as sent.
        self.log_at_stop = self.log.stat().st_size
        if self.worker.poll() is None:
            self.alive_at_end = True
            self.final_rss = (own_rss_mib(self.worker.pid), rss_mib(self.worker.pid))
            self.worker.send_signal(signal.SIGTERM)
            try:
                self.worker.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.worker.pid, signal.SIGKILL)
                self.worker.wait()
        else:
            self.alive_at_end, self.final_rss = False, (0.0, 0.0)

    def leftovers(self) -> tuple[Counter, set[str]]:
        """Messages still on disk after the worker stopped (not lost: they run at its next start): how many per
        task name, and the tokens of the test tasks among them."""
        names, tokens = Counter(), set()
        for path in (self.work / "data" / "celery").rglob("*.msg"):
            if path.parent.name == "bad":
                continue
            try:
                message = json.loads(path.read_bytes())
                names[message["headers"]["task"]] += 1
                if message["headers"]["task"].startswith("broker_tests."):
                    tokens.add(json.loads(base64.b64decode(message["body"]))[0][1])
            except (ValueError, KeyError, IndexError, TypeError):
                names["(undecodable)"] += 1
        return names, tokens

    def report(self) -> dict:
        log = self.log.read_text(errors="replace")
        recorded, expected = self.recorded(), self.expected()
        latencies = sorted(float(line.split()[2]) for line in self.runs.read_text().splitlines()
                           if "." not in line.split()[0]) if self.runs.exists() else []
        before_stop = self.log.read_bytes()[:self.log_at_stop].decode(errors="replace")
        beat_sent = Counter(re.findall(r"Sending due task \S+ \((\S+)\)", before_stop))
        beat_done = Counter(name for name in re.findall(r"Task (\S+)\[[0-9a-f-]+\] succeeded", log)
                            if name in beat_sent)
        leftover, queued = self.leftovers()
        beat_lost = {name: sent - beat_done[name] - leftover[name] for name, sent in beat_sent.items()
                     if sent - beat_done[name] - leftover[name] > 0}
        return {
            "broker": self.args.broker, "minutes": self.args.minutes, "rate_per_s": self.args.rate,
            "payload_chars": self.args.payload,
            "work": str(self.work), "cpus": os.cpu_count(),
            "tasks_sent": len(expected), "from_this_script": len(self.sent),
            "queued_by_tasks": len(expected) - len(self.sent),
            "tasks_completed": sum(1 for token in expected if recorded[token]),
            "left_queued": len(queued),
            "lost": len(expected - set(recorded) - queued),
            "lost_examples": sorted(expected - set(recorded) - queued)[:10],
            "duplicates": sum(count - 1 for count in recorded.values() if count > 1),
            "beat_sent": sum(beat_sent.values()),
            "beat_sent_while_stopping": len(re.findall(r"Sending due task", log)) - sum(beat_sent.values()),
            "beat_completed": sum(beat_done.values()),
            "beat_left_queued": sum(leftover[name] for name in beat_sent), "beat_lost": beat_lost,
            "task_failures": len(re.findall(r"Task \S+\[[0-9a-f-]+\] raised", log)),
            "unrecoverable_errors": log.count("Unrecoverable error"),
            "bad_messages": len(list((self.work / "data" / "celery").glob("bad/*.msg"))),
            "undecodable_logged": log.count("Moved an undecodable message"),
            "worker_alive_to_the_end": self.alive_at_end, "worker_died_after_s": self.died_after,
            "worker_starts": log.count(" ready."), "consumer_connections": log.count("Connected to "),
            "pidfile_names_the_worker_started": self.pid_at_end == self.worker.pid,
            "worker_rss_mib": {"start": self.memory[0][1] if self.memory else None,
                               "end": self.final_rss[0], "max": max((m[1] for m in self.memory), default=None)},
            "worker_and_children_rss_mib": {"start": self.memory[0][2] if self.memory else None,
                                            "end": self.final_rss[1],
                                            "max": max((m[2] for m in self.memory), default=None)},
            "memory_every_minute_mib": [{"s": m[0], "worker": m[1], "with_children": m[2]}
                                        for m in self.memory if m[0] % 60 < 10],
            "latency_s": {"p50": statistics.median(latencies), "p95": latencies[int(len(latencies) * 0.95)],
                          "max": latencies[-1]} if latencies else None,
            "pings": dict(self.pings),
            "outbox": self.outbox, "feeder_exit": self.feeder_exit,
        }


def failures(result: dict) -> list[str]:
    problems = []
    if result["lost"] or result["beat_lost"]:
        problems.append(f"lost {result['lost']} tasks, beat's: {result['beat_lost']}")
    if result["unrecoverable_errors"]:
        problems.append(f"{result['unrecoverable_errors']} 'Unrecoverable error' lines")
    if not result["worker_alive_to_the_end"]:
        problems.append(f"the worker exited after {result['worker_died_after_s']} s")
    outbox = result["outbox"]
    published = sum(outbox.get("requests_by_status", {}).get(s, 0) for s in ("published", "completed"))
    runs = outbox.get("runs_by_status", {})
    if not outbox.get("requests") or published != outbox["requests"] or set(runs) - {"done"}:
        problems.append(f"the outbox did not settle: {outbox}")
    if result["feeder_exit"] != 0:
        problems.append(f"the request feeder exited with {result['feeder_exit']}")
    if result["worker_starts"] != 1 or result["consumer_connections"] != 1:
        problems.append(f"worker restarts: {result['worker_starts']} starts, "
                        f"{result['consumer_connections']} consumer connections")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=10, help="tasks queued per second by this script")
    parser.add_argument("--payload", type=int, default=0, help="characters carried by each task this script queues")
    parser.add_argument("--requests-every", type=float, default=20,
                        help="seconds between the removal requests logged and approved")
    parser.add_argument("--broker", choices=["folder", "filesystem"], default="folder")
    parser.add_argument("--work", help="a folder to run in (emptied first); default: a new temporary one")
    parser.add_argument("--out", help="where to save the JSON (default: bench/out/soak-<broker>-<date>-<time>.json)")
    args = parser.parse_args()

    soak = Soak(args)
    print(f"soak of {args.minutes} min on {args.broker}:// in {soak.work}", flush=True)
    try:
        soak.start()
        soak.produce()
        soak.drain()
    finally:
        if soak.worker is not None:
            soak.stop()
    result = soak.report()
    result["failures"] = failures(result)
    print(json.dumps(result, indent=2))
    path = Path(args.out or REPO / "bench" / "out" / f"soak-{args.broker}-{datetime.datetime.now():%Y%m%d-%H%M}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"saved {path}")
    if result["failures"]:
        print("FAILED: " + "; ".join(result["failures"]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
