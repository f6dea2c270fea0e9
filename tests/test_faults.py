"""Nothing lost: the worker killed at every step of the pipeline, and the broker restarted, while releases import
in the background and hotline removals are approved, published and sent to a mirror with a webhook.

Everything runs as in production, in processes of its own: the web server, workers with beat inside (as ./run
starts them), `manage.py` commands, a real mirror (`takedown-mirror receive` on its own copy of the shards) and,
for the Redis variant, a Redis server of the test's own that is restarted without its data. Each worker is
started with TAKEDOWN_CRASH_AT naming one point of the code (apps.core.faults): the first time any of its
processes reaches it, the whole worker dies by SIGKILL, as when its machine goes. The next worker starts at once.
Nobody does anything by hand: afterwards everything must converge on its own.
"""
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from apps.blocklists.models import BlocklistVersion
from apps.blocklists.selectors import MANIFEST, blocked_keys, blocklist_read
from apps.datasets.models import Release
from apps.events.models import HandlerRun
from apps.matching.models import Match
from apps.mirrors.models import Acknowledgement, FeedEvent, Mirror, WebhookDelivery
from apps.removals.models import RemovalRequest, Status
from tests.support.workers import ROOT, Workers, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Each point of apps.core.faults, and what sets off the work that reaches it next: a hotline request, a
# release imported in the background, or nothing new (work already under way gets there).
POINTS = [
    ("events.run.claimed", "request"),
    ("events.record.committed", "request"),  # a handler's events committed, their queue messages never sent
    ("events.reconcile.lapsed", "wait"),  # the run the kill above left behind, handed out again
    ("matching.match.batch_written", "request"),
    ("matching.request.matched", "request"),
    ("blocklists.publish.files_written", "request"),
    ("blocklists.publish.signed", "request"),  # a version folder without its manifest
    ("blocklists.publish.committed", "request"),
    ("blocklists.request.published_all", "request"),
    ("mirrors.announce.announced", "request"),
    ("mirrors.webhooks.claimed", "request"),
    ("mirrors.webhooks.sending", "request"),  # attempts "sending", their outcome never known
    ("mirrors.webhooks.outcomes", "request"),
    ("mirrors.complete.marked", "request"),
    ("datasets.shard.part_built", "import"),
    ("datasets.shard.recorded", "wait"),
    ("events.run.handled", "wait"),
    ("datasets.finalize.segment_built", "wait"),
    ("datasets.finalize.index_published", "wait"),
    ("datasets.finalize.ready", "wait"),
    ("matching.release.caught_up", "wait"),
]
# Workers that resume at once: leases lapse in 2 s, beat reconciles every second, retries start after 1 s.
FAST = {
    "EVENT_LEASE_SECONDS": "2", "RESUME_INTERVAL_SECONDS": "1", "EVENT_REDISPATCH_SECONDS": "2",
    "EVENT_RETRY_BASE_SECONDS": "1", "WEBHOOK_RETRY_BASE_SECONDS": "1", "WEBHOOK_TIMEOUT_SECONDS": "2",
    "WORKER_HEARTBEAT_SECONDS": "1", "INDEX_SEGMENT_ROWS": "25",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


@dataclass
class Host:
    """The processes of one host, on the test's database and folders."""

    tmp: Path
    env: dict
    workers: Workers
    processes: list[subprocess.Popen] = field(default_factory=list)
    redis_port: int | None = None
    web: str = ""
    flagger_token: str = ""
    requests: int = 0
    imports: int = 0
    samples: list = field(default_factory=list)

    def manage(self, *args: str) -> str:
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result.stdout

    def spawn(self, name: str, args: list[str], env: dict | None = None) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "w")  # noqa: SIM115 (open as long as the process)
        process = subprocess.Popen(args, cwd=ROOT, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes.append(process)
        return process

    def start_redis(self) -> None:
        self.redis_port = self.redis_port or _free_port()
        self.spawn("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(self.tmp)])
        assert wait_for(lambda: self._redis_ping(), timeout=20), "the test's Redis did not start"

    def _redis_ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def restart_redis(self) -> None:
        """Kill Redis and start it again empty: every queued message is gone."""
        [redis] = [p for p in self.processes if p.args[0] == "redis-server" and p.poll() is None]
        os.killpg(redis.pid, signal.SIGKILL)
        redis.wait()
        self.start_redis()

    def submit(self) -> None:
        """A hotline's csam report of two samples: approved on receipt, then the workers' to publish."""
        self.requests += 1
        picked = self.samples[2 * self.requests: 2 * self.requests + 2]
        body = "kind,value\n" + "".join(f"sha256,{s.sha256}\n" for s in picked)
        url = (f"{self.web}/api/v1/flagger/requests?category=csam&reference=IWF-{self.requests}&hotline=iwf"
               f"&hotline_report_id=IWF-{self.requests}")
        request = urllib.request.Request(url, data=body.encode(), method="POST", headers={
            "Authorization": f"Bearer {self.flagger_token}", "Content-Type": "text/csv"})
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.loads(response.read())["status"] == "approved"

    def import_in_background(self, shards: Path) -> None:
        self.imports += 1
        self.manage("import_release", "incoming", f"r{self.imports}", str(shards), "--background")


@pytest.fixture(params=["folder", "redis"])
def host(request, tmp_path, celery_queue, settings):
    from tests.support.workers import database_url

    workers = Workers(celery_queue, tmp_path)
    env = {**workers.env, **FAST}
    env.pop("REDIS_URL", None)  # the folder broker under DATA_DIR, unless the Redis variant below
    env.pop("TAKEDOWN_CRASH_AT", None)
    env["DATABASE_URL"] = database_url()
    host = Host(tmp=tmp_path, env=env, workers=workers)
    if request.param == "redis":
        host.start_redis()
        env["REDIS_URL"] = f"redis://127.0.0.1:{host.redis_port}/0"
    workers.env = env
    yield host
    workers.stop_all()
    for process in host.processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _crash(host: Host, point: str, shards: Path, then: str) -> None:
    """A worker that dies at `point`: work is set off until a process of it gets there."""
    marker = host.tmp / f"crashed-at-{point}"
    worker = host.workers.start(point.replace(".", "-"), beat=True,
                                env={"TAKEDOWN_CRASH_AT": f"{point}={marker}"})
    for poke in range(4):
        if then == "request" or (then == "import" and poke == 0) or poke >= 2:
            host.submit() if then != "import" else host.import_in_background(shards)
        if wait_for(lambda: marker.exists() and worker.process.poll() is not None, timeout=30, interval=0.1):
            worker.kill()  # reaps it (the group is gone already)
            return
    raise AssertionError(f"no worker process reached {point}:\n{_state()}\n{worker.output()[-3000:]}")


def test_a_removal_survives_a_worker_killed_at_every_step_and_a_broker_restart(host, tmp_path, release_on_disk,
                                                                                 request):
    shards = release_on_disk.path
    host.samples = release_on_disk.data.successful()
    # The host: a release its mirror copies, a mirror with a webhook, a hotline, the web server.
    host.manage("import_release", "demo", "r1", str(shards), "--no-progress")
    receiver_port, web_port = _free_port(), _free_port()
    host.web = f"http://127.0.0.1:{web_port}"
    out = host.manage("create_mirror", "lab-copy", "--subscribe", "demo", "--webhook",
                      f"http://127.0.0.1:{receiver_port}/")
    mirror_token, secret = _last_line(out), next(line.split(": ", 1)[1] for line in out.splitlines()
                                                 if line.startswith("Webhook signing secret"))
    host.flagger_token = _last_line(host.manage("create_flagger", "IWF", "--kind", "hotline"))
    host.spawn("web", [sys.executable, "manage.py", "runserver", f"127.0.0.1:{web_port}", "--noreload"])
    assert wait_for(lambda: _answers(host.web), timeout=30), (tmp_path / "web.log").read_text()
    copy = tmp_path / "mirror-copy"
    shutil.copytree(shards, copy)
    host.spawn("mirror", [sys.executable, "-m", "mirror_client", "receive", "--listen",
                          f"127.0.0.1:{receiver_port}", "--secret", secret, "--server", host.web, "--token",
                          mirror_token, "--dataset", "demo", "--release", "r1", "--data", str(copy), "--poll", "5"],
               env={k: v for k, v in os.environ.items() if k != "TAKEDOWN_CRASH_AT"})

    # The worker dies at each point in turn; the broker is restarted half-way (Redis: without its data).
    for number, (point, then) in enumerate(POINTS):
        if number == len(POINTS) // 2 and host.redis_port:
            host.restart_redis()
        _crash(host, point, shards, then)
    # And at moments nobody chose, in the middle of everything.
    rng = random.Random(20261205)
    for number in range(3):
        worker = host.workers.start(f"random-{number}", beat=True)
        host.submit()
        host.import_in_background(shards)
        time.sleep(rng.uniform(0.5, 3.0))
        worker.kill()

    # One worker, as ./run leaves it running: everything settles without anyone doing anything.
    final = host.workers.start("final", beat=True)
    requests = RemovalRequest.objects.count()
    assert requests == host.requests >= 12

    def settled() -> bool:
        return (not Release.objects.exclude(status=Release.Status.READY).exists()
                and not RemovalRequest.objects.exclude(status=Status.COMPLETED).exists()
                and not HandlerRun.objects.exclude(status=HandlerRun.Status.DONE).exists()
                and not WebhookDelivery.objects.exclude(status=WebhookDelivery.Status.DELIVERED).exists()
                and Acknowledgement.objects.filter(
                    status="applied", blocklist=BlocklistVersion.objects.filter(release__dataset__name="demo")
                    .order_by("-version").first()).exists())

    assert wait_for(settled, timeout=240, workers=[final]), _state()

    # Every release is ready. Each approved removal is in the published files of one version and of every
    # version after it (never dropped, never published twice as new), and the versions it is recorded in hold
    # it; no version repeats the one before it (a publish run twice after a crash made no second version of
    # the same content), and the database's blocked keys are the latest version's.
    assert Release.objects.filter(dataset__name="incoming").count() == host.imports
    for release in Release.objects.all():
        versions = list(release.blocklist_versions.order_by("version"))
        assert [v.version for v in versions] == list(range(1, len(versions) + 1))
        published = {v.version: _published_keys(v) for v in versions}
        latest = {key for shard in blocked_keys(release).values() for key in shard}
        assert latest <= published[versions[-1].version], release
        for request in RemovalRequest.objects.all():
            keys = set(Match.objects.filter(request=request, release=release).values_list("key", flat=True))
            assert keys, (request, release)
            holding = [number for number, held in published.items() if keys <= held]
            assert holding == list(range(holding[0], versions[-1].version + 1)), (request, release, holding)
            recorded = set(request.blocklist_versions.filter(release=release).values_list("version", flat=True))
            assert recorded and recorded <= set(holding), (request, release, recorded, holding)
        for before, after in zip(versions, versions[1:]):
            assert after.content_sha256 != before.content_sha256 or after.refresh, (release, after.version)
    # The mirror applied the latest version, and its copy holds none of the blocked samples.
    verify = subprocess.run([sys.executable, "-m", "mirror_client", "verify", "--data", str(copy)], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    call_command("verify_audit")


def _published_keys(version: BlocklistVersion) -> set[str]:
    """Every key in a published version's shard files (decoys too), read back from storage."""
    manifest = json.loads(blocklist_read(version=version, name=MANIFEST))
    return {key for shard in manifest["shards"] for key in pq.read_table(
        io.BytesIO(blocklist_read(version=version, name=shard["file"]))).column("key").to_pylist()}


def _answers(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/api/schema/", timeout=2):
            return True
    except OSError:
        return False


def _state() -> str:
    return json.dumps({
        "releases": list(Release.objects.values_list("name", "status")),
        "requests": list(RemovalRequest.objects.values_list("tracking_id", "status")),
        "open runs": list(HandlerRun.objects.exclude(status="done").values_list("handler", "status", "last_error")),
        "deliveries": list(WebhookDelivery.objects.exclude(status="delivered").values_list("pk", "status")),
        "acks": list(Acknowledgement.objects.values_list("blocklist__release__name", "blocklist__version", "status")),
        "versions": list(BlocklistVersion.objects.values_list("release__name", "version", "key_count")),
        "feed": list(FeedEvent.objects.values_list("pk", "release__name", "blocklist__version")),
        "mirrors": list(Mirror.objects.values_list("name", "active", "disabled_at", "consecutive_failures")),
        "runs": list(HandlerRun.objects.values_list("handler", "status", "attempts").order_by("pk")),
    }, default=str, indent=1)
