"""Time to purge: from approving a removal to every mirror having applied and acknowledged it.

One run, on PostgreSQL and Redis (this machine's services), with the product as it runs in
production: gunicorn serving the API, a Celery worker publishing and sending webhooks, and
one `python -m mirror_client receive` process per mirror, each with its own copy of the
shards. Steps, each timed:

  a. baseline: one healthy mirror alone; a removal is approved; time until its ack;
  b. N mirrors (default 100), of which 10% answer the first webhook attempts with 503
     ("failing") and 10% answer only after a delay ("slow"); a removal is approved; time
     until every one of them has applied and acknowledged the new version;
  c. webhook fan-out throughput: M mirrors (default 500) whose endpoint answers 204 at
     once, one publication; deliveries per second, against the baseline of the same
     signed requests sent one after another from this script.

Prints a markdown table and saves bench/out/mirror-fanout-<date>.json.

Usage: python bench/mirror_fanout.py [--mirrors 100] [--fanout 500] [--work /tmp/takedown-fanout]
(BENCH_WORKER_LOGLEVEL=INFO logs each task the worker runs, in WORK/logs/worker.log.)
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
DB_NAME = "takedown_bench_fanout"


def free_port() -> int:
    """A free port below the kernel's ephemeral range, so nothing binding port 0 later can take it."""
    global _next_port
    while _next_port < 32000:
        _next_port += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", _next_port))
            except OSError:
                continue
            return _next_port
    raise RuntimeError("no free port between 20000 and 32000")


_next_port = 20000


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout:.0f} s")


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass


SINK = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the listen backlog, set before listen(): a fan-out connects all at once


Server(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


class Sink:
    """Webhook endpoints answering 204 at once, in a process of their own (not competing with this one's threads)."""

    def __init__(self, bench: Bench):
        port = free_port()
        bench.spawn("sink", [PYTHON, "-c", SINK, str(port)])
        wait_port(port)
        self.url = f"http://127.0.0.1:{port}/hook"


class ChaosProxy:
    """In front of a receiver: fails the first `fail` requests with 503, or answers after `delay` seconds."""

    def __init__(self, target: str, *, fail: int = 0, delay: float = 0.0):
        self.target, self.fail, self.delay, self.seen = target, fail, delay, 0
        proxy = self

        class Handler(_Quiet):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.seen += 1
                if proxy.seen <= proxy.fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                time.sleep(proxy.delay)
                headers = {k: v for k, v in self.headers.items() if k.lower().startswith(("webhook-", "content-type"))}
                try:
                    with urllib.request.urlopen(urllib.request.Request(proxy.target, body, headers), timeout=30) as r:
                        status = r.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                except OSError:
                    status = 502
                self.send_response(status)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work)
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.procs: list[subprocess.Popen] = []
        self.kinds: dict[int, str] = {}
        self.env = {
            **os.environ,
            "DATA_DIR": str(self.work / "data"),
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{DB_NAME}",
            "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            "CELERY_QUEUE": f"fanout-{os.getpid()}",
            "PUBLIC_BASE_URL": self.base,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "WEBHOOKS_ALLOW_PRIVATE_ADDRESSES": "true",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        os.environ.update(self.env)

    # ---------------------------------------------------------------- processes

    def spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        log = open(self.work / "logs" / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append(proc)
        self.kinds[proc.pid] = name.split("-")[0]  # receiver, gunicorn, worker, sink
        return proc

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time used so far by each kind of process this bench started (with their children)."""
        tick = os.sysconf("SC_CLK_TCK")
        sessions = self.kinds
        used: dict[str, float] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            kind = sessions.get(int(fields[3]))  # the session id: each spawned process leads its own
            if kind:
                used[kind] = used.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / tick
        with open("/proc/stat") as handle:
            total = handle.readline().split()[1:8]
        used["machine"] = sum(int(x) for x in total[:3] + total[5:7]) / tick  # user, nice, system, irq, softirq
        return used

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    # ---------------------------------------------------------------- setup

    def setup(self) -> None:
        (self.work / "logs").mkdir()
        for sql in (f"DROP DATABASE IF EXISTS {DB_NAME}", f"CREATE DATABASE {DB_NAME}"):
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c", sql], check=True)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
        sys.path.insert(0, str(REPO))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from apps.core.actors import Actor
        from apps.datasets import synthetic
        from apps.datasets.services import release_import

        self.actor = Actor(label="bench:fanout")
        self.data = synthetic.write_release(self.work / "shards", shards=8, samples_per_shard=40, seed=7)
        self.release = release_import(dataset="bench", release="r1", path=self.work / "shards",
                                      actor=self.actor).release
        self.samples = [s for s in self.data.successful()]
        self._approve_now(self.samples[0].key)  # version 1, published before any mirror exists

        self.spawn("gunicorn", [str(REPO / ".venv/bin/gunicorn"), "project.wsgi", "-b", f"127.0.0.1:{self.port}",
                                "-w", str(self.args.web_workers), "--threads", "8", "--timeout", "60",
                                "--access-logfile", str(self.work / "logs" / "access.log"),
                                "--access-logformat", '%(U)s %(s)s %(D)s'])
        self.spawn("worker", [PYTHON, "-m", "celery", "-A", "project", "worker", "-Q", self.env["CELERY_QUEUE"],
                              "-c", str(self.args.celery_concurrency), "--loglevel",
                              os.environ.get("BENCH_WORKER_LOGLEVEL", "WARNING"), "-n",
                              f"fanout-{os.getpid()}@%h"])
        wait_port(self.port)

    def _approve_now(self, key: str):
        """Log a csam removal and publish it here, synchronously (setup only)."""
        from apps.core.identifiers import ParsedIdentifier
        from apps.events.services import events_drain
        from apps.removals.selectors import events_about
        from apps.removals.services import request_approve, request_create

        request = request_create(category="csam", identifiers=[ParsedIdentifier(1, "key", key)], actor=self.actor)
        request_approve(request=request, actor=self.actor)
        events_drain(events_about(request=request))

    def _approve_later(self, key: str):
        """What the admin's approve button does: approve, and the worker publishes and notifies."""
        from apps.core.identifiers import ParsedIdentifier
        from apps.removals.services import request_approve, request_create

        request = request_create(category="csam", identifiers=[ParsedIdentifier(1, "key", key)], actor=self.actor)
        request_approve(request=request, actor=self.actor)
        return request

    # ---------------------------------------------------------------- mirrors

    def add_mirrors(self, first: int, count: int, *, failing: int = 0, slow: int = 0) -> list[dict]:
        """Create mirrors with their own copy of the shards, bring them up to date, start their receivers."""
        from apps.mirrors.services import mirror_create

        mirrors = []
        for i in range(first, first + count):
            data = self.work / "mirrors" / f"m{i:03d}"
            shutil.copytree(self.work / "shards", data)
            port = free_port()
            receiver_url = f"http://127.0.0.1:{port}/"
            kind = "failing" if i - first < failing else "slow" if i - first < failing + slow else "healthy"
            front = (ChaosProxy(receiver_url, fail=self.args.fail_attempts) if kind == "failing"
                     else ChaosProxy(receiver_url, delay=self.args.slow_seconds) if kind == "slow" else None)
            created = mirror_create(name=f"mirror-{i:03d}", datasets=[self.release.dataset],
                                    webhook_url=front.url if front else receiver_url, actor=self.actor)
            mirrors.append({"i": i, "kind": kind, "data": data, "port": port, "token": created.token,
                            "secret": created.webhook_secret, "mirror": created.mirror, "proxy": front})
        common = ["--server", self.base, "--dataset", "bench"]

        def first_sync(m):
            subprocess.run([PYTHON, "-m", "mirror_client", "sync", *common, "--token", m["token"],
                            "--data", str(m["data"])], cwd=REPO, env=self.env, check=True, capture_output=True,
                           timeout=300)

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(first_sync, mirrors))
        for m in mirrors:
            self.spawn(f"receiver-{m['i']:03d}", [
                PYTHON, "-m", "mirror_client", "receive", "--listen", f"127.0.0.1:{m['port']}", *common,
                "--token", m["token"], "--data", str(m["data"]), "--secret", m["secret"]])
        for m in mirrors:
            wait_port(m["port"])
        # The clock starts with every mirror idle and up to date, as when a removal comes in: each receiver
        # has finished the catch-up sync it runs at start (100 processes starting load the machine).
        for m in mirrors:
            self.wait_idle(m)
        time.sleep(1.0)
        return mirrors

    @staticmethod
    def wait_idle(m: dict, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{m['port']}/", timeout=10) as resp:
                state = json.loads(resp.read())
            if state["syncs"] >= 1 and not state["busy"]:
                if not (state["last_sync"] or {}).get("ok"):
                    raise RuntimeError(f"mirror {m['i']}: its first sync failed: {state['last_sync']}")
                return
            time.sleep(0.1)
        raise TimeoutError(f"mirror {m['i']} still syncing after {timeout:.0f} s")

    def time_to_purge(self, mirrors: list[dict], key: str, timeout: float = 300.0) -> dict:
        """Approve a removal of `key`; wait until every mirror acknowledged the version carrying it."""
        from apps.blocklists.models import BlocklistVersion
        from apps.mirrors.models import Acknowledgement

        latest = BlocklistVersion.objects.filter(release=self.release).order_by("-version").first()
        ids = [m["mirror"].pk for m in mirrors]
        cpu_before = self.cpu_seconds()
        start = time.monotonic()
        started_at = datetime.datetime.now(datetime.UTC)
        self._approve_later(key)
        done_at: dict[int, float] = {}
        while time.monotonic() - start < timeout:
            acks = Acknowledgement.objects.filter(
                mirror_id__in=ids, status=Acknowledgement.Status.APPLIED,
                blocklist__release=self.release, blocklist__version__gt=latest.version,
            ).values_list("mirror_id", "created_at")
            for mirror_id, created_at in acks:
                done_at.setdefault(mirror_id, (created_at - started_at).total_seconds())
            if len(done_at) == len(ids):
                break
            time.sleep(0.05)
        total = time.monotonic() - start
        cpu_after = self.cpu_seconds()
        cpu = {k: round(cpu_after.get(k, 0) - cpu_before.get(k, 0), 2) for k in cpu_after}
        missing = [m["i"] for m in mirrors if m["mirror"].pk not in done_at]
        by_kind = {}
        for m in mirrors:
            if m["mirror"].pk in done_at:
                by_kind.setdefault(m["kind"], []).append(done_at[m["mirror"].pk])
        # Where the time went: publication by the worker, then the webhooks, then the mirrors' syncs.
        from apps.mirrors.models import FeedEvent, WebhookDelivery

        event = FeedEvent.objects.filter(release=self.release).order_by("-id").first()
        delivered = list(WebhookDelivery.objects.filter(event=event, mirror_id__in=ids)
                         .exclude(delivered_at=None).values_list("delivered_at", flat=True))
        published_s = (event.created_at - started_at).total_seconds()
        first_delivery = {m: d for m, d in WebhookDelivery.objects.filter(event=event, mirror_id__in=ids)
                          .values_list("mirror_id", "attempts__started_at").order_by("attempts__started_at")}
        # Every copy really is clean: the key is gone from each mirror's parquet files.
        unclean = [m["i"] for m in mirrors if self._still_holds(m["data"], key)]
        return {"mirrors": len(mirrors), "seconds_until_all": round(total, 2), "missing": missing,
                "published_after_s": round(published_s, 2), "cpu_seconds": cpu,
                "webhooks_delivered_max_s": round(max((d - started_at).total_seconds() for d in delivered), 2)
                if delivered else None,
                "first_webhook_sent_max_s": round(max((d - started_at).total_seconds()
                                                      for d in first_delivery.values() if d), 2)
                if first_delivery else None,
                "unclean": unclean,
                "per_kind_max_s": {k: round(max(v), 2) for k, v in by_kind.items()},
                "p50_s": round(statistics.median(done_at.values()), 2) if done_at else None}

    @staticmethod
    def _still_holds(data: Path, key: str) -> bool:
        import pyarrow.parquet as pq

        return any(key in pq.read_table(p, columns=["key"]).column("key").to_pylist()
                   for p in sorted(data.glob("*.parquet")))

    # ---------------------------------------------------------------- fan-out throughput

    def fanout(self, count: int) -> dict:
        from apps.datasets.services import release_import
        from apps.mirrors.models import WebhookDelivery
        from apps.mirrors.services import mirror_create

        # The mirrors of step b are stopped, and this release has keys of its own: the machine does the fan-out alone.
        receivers = [proc for proc in self.procs if "receive" in proc.args and proc.poll() is None]
        for proc in receivers:
            proc.terminate()
        for proc in receivers:  # gone before the clock starts: 100 exiting processes would share the cores
            proc.wait(timeout=60)
        time.sleep(1.0)
        from apps.datasets import synthetic

        data = synthetic.write_release(self.work / "fanout-shards", shards=2, samples_per_shard=20, seed=99)
        release = release_import(dataset="fanout", release="r1", path=self.work / "fanout-shards",
                                 actor=self.actor).release
        sink = Sink(self)
        secrets_ = [mirror_create(name=f"sink-{i:04d}", datasets=[release.dataset], webhook_url=sink.url,
                                  actor=self.actor).webhook_secret for i in range(count)]
        from apps.core.identifiers import ParsedIdentifier
        from apps.removals.services import request_approve, request_create

        start = time.monotonic()
        request = request_create(category="other", identifiers=[ParsedIdentifier(1, "key", data.successful()[0].key)],
                                 actor=self.actor)
        request_approve(request=request, actor=self.actor)
        deliveries = WebhookDelivery.objects.filter(mirror__name__startswith="sink-")
        while time.monotonic() - start < 300:
            if deliveries.filter(status=WebhookDelivery.Status.DELIVERED).count() >= count:
                break
            time.sleep(0.05)
        product = time.monotonic() - start
        delivered = deliveries.filter(status=WebhookDelivery.Status.DELIVERED).count()
        # The fan-out alone: from the feed event (the version is published) to the last delivery.
        from apps.mirrors.models import FeedEvent

        event = FeedEvent.objects.filter(release=release).latest("id")
        last = max(deliveries.values_list("delivered_at", flat=True), default=None)
        fanout_s = (last - event.created_at).total_seconds() if last else None

        # Baseline: the same number of signed requests, one after another, from this script.
        from standardwebhooks.webhooks import Webhook

        body = json.dumps({"type": "blocklist.published", "data": {"dataset": "fanout", "version": 1}})
        start = time.monotonic()
        for i, secret in enumerate(secrets_):
            now = datetime.datetime.now(datetime.UTC)
            signature = Webhook(secret).sign(f"bench_{i}", now, body)
            req = urllib.request.Request(sink.url, body.encode(), {
                "content-type": "application/json", "webhook-id": f"bench_{i}",
                "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature})
            with urllib.request.urlopen(req, timeout=10):
                pass
        sequential = time.monotonic() - start
        return {"deliveries": count, "delivered": delivered,
                "approve_to_all_delivered_s": round(product, 2),
                "product_seconds": round(fanout_s, 2), "product_per_s": round(delivered / fanout_s, 1),
                "sequential_seconds": round(sequential, 2), "sequential_per_s": round(count / sequential, 1),
                "note": "product: from the feed event to the last delivery, attempt rows and all"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=int, default=100)
    parser.add_argument("--failing", type=float, default=0.10, help="share of mirrors failing first attempts")
    parser.add_argument("--slow", type=float, default=0.10, help="share of mirrors answering slowly")
    parser.add_argument("--fail-attempts", type=int, default=2, help="503s a failing mirror answers first")
    parser.add_argument("--slow-seconds", type=float, default=3.0)
    parser.add_argument("--fanout", type=int, default=500)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument("--work", default="/tmp/takedown-fanout")
    args = parser.parse_args()

    bench = Bench(args)
    results: dict = {"args": vars(args), "cpus": os.cpu_count()}
    try:
        bench.setup()
        samples = bench.samples
        one = bench.add_mirrors(0, 1)
        results["baseline_one_mirror"] = bench.time_to_purge(one, samples[5].key)
        failing, slow = round(args.mirrors * args.failing), round(args.mirrors * args.slow)
        rest = bench.add_mirrors(1, args.mirrors - 1, failing=failing, slow=slow)
        results["all_mirrors"] = bench.time_to_purge(one + rest, samples[9].key)
        results["fanout"] = bench.fanout(args.fanout)
    finally:
        bench.stop_all()

    base, full, fan = results["baseline_one_mirror"], results["all_mirrors"], results["fanout"]
    print(f"\nmachine: {os.cpu_count()} cores; {args.mirrors} mirrors ({failing} failing their first "
          f"{args.fail_attempts} attempts, {slow} answering after {args.slow_seconds:.0f} s)")
    print("| measure | value | baseline | ratio |")
    print("|---|---|---|---|")
    print(f"| time to purge, all {full['mirrors']} mirrors | {full['seconds_until_all']} s "
          f"| {base['seconds_until_all']} s (one healthy mirror alone) "
          f"| {full['seconds_until_all'] / base['seconds_until_all']:.1f}x |")
    print(f"| per kind, slowest (s) | {full['per_kind_max_s']} | | |")
    print(f"| webhook fan-out, {fan['deliveries']} endpoints | {fan['product_per_s']}/s "
          f"| {fan['sequential_per_s']}/s (sequential, this script) "
          f"| {fan['product_per_s'] / fan['sequential_per_s']:.1f}x |")
    if full["missing"] or full["unclean"]:
        print(f"NOT DONE: missing acks {full['missing']}, copies still holding the key {full['unclean']}")
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    path = out / f"mirror-fanout-{datetime.date.today():%Y%m%d}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    print(f"saved {path}")


if __name__ == "__main__":
    main()
