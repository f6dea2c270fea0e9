"""Background work on a real Celery worker process: Redis in CI, the folder broker locally."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import storages
from django.db import connection
from standardwebhooks.webhooks import Webhook

from apps.blocklists.models import BlocklistVersion
from apps.core.actors import Actor
from apps.mirrors.models import WebhookDelivery
from apps.mirrors.services import mirror_create
from apps.removals.models import RemovalRequest, Status
from apps.removals.parsing import ParsedIdentifier
from apps.removals.services import request_approve_later, request_create, requests_to_resume

ROOT = Path(__file__).resolve().parent.parent
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker(celery_queue):
    """A `celery -A project worker` on this test's database, blocklist folder and queue."""
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DATA_DIR": str(settings.DATA_DIR),
        "BLOCKLISTS_DIR": str(storages["blocklists"].location),
        "INDEX_DIR": str(settings.INDEX_DIR),
        "CELERY_QUEUE": celery_queue,
        "WEBHOOKS_ALLOW_PRIVATE_ADDRESSES": "true",
    }
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "project", "worker", "-Q", celery_queue, "--concurrency", "1",
         "--loglevel", "INFO", "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    yield process
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait(condition, timeout=120.0, process=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if process is not None and process.poll() is not None:
            raise AssertionError(f"worker exited early:\n{process.stdout.read()}")
        time.sleep(0.2)
    return False


def test_ci_runs_on_postgresql_and_redis():
    if os.environ.get("TAKEDOWN_REQUIRE_SERVICES"):
        assert settings.CELERY_BROKER_URL.startswith("redis://")
        assert connection.vendor == "postgresql"


def test_a_worker_publishes_an_approval_and_notifies_the_mirror(
        worker, release, release_on_disk, receiver, operator):
    mirror = mirror_create(name="hooked", datasets=[release.dataset], webhook_url=receiver.url, actor=operator)
    sample = release_on_disk.data.successful()[0]
    request = request_create(category="csam", actor=operator,
                             identifiers=[ParsedIdentifier(line=2, kind="sha256", value=sample.sha256)])

    request_approve_later(request=request, actor=Actor(label="user:reviewer"))  # the admin's approve button

    assert _wait(lambda: RemovalRequest.objects.get(pk=request.pk).status == Status.PUBLISHED, process=worker), \
        "the worker did not publish the approved request"
    version = BlocklistVersion.objects.get(release=release)
    assert sample.key in set(version.release.matches.values_list("key", flat=True))
    [delivery] = receiver.wait_for(1, timeout=60)
    payload = Webhook(mirror.webhook_secret).verify(delivery.body, delivery.headers)
    assert payload["data"]["version"] == version.version
    assert _wait(lambda: WebhookDelivery.objects.get().status == "delivered", process=worker)


def test_a_lost_publish_message_is_picked_up_by_the_resume_task(worker, release, release_on_disk, operator):
    from apps.removals.services import request_approve
    from apps.removals.tasks import requests_resume_task

    sample = release_on_disk.data.successful()[1]
    request = request_create(category="ncii", actor=operator,
                             identifiers=[ParsedIdentifier(line=2, kind="key", value=sample.key)])
    request = request_approve(request=request, actor=operator)  # approved, no message queued: as after a crash
    RemovalRequest.objects.filter(pk=request.pk).update(approved_at=request.approved_at.replace(year=2000))
    assert requests_to_resume() == [request.pk]

    requests_resume_task.delay()  # what celery beat sends every minute

    # No mirror holds the dataset, so once published the request is also complete.
    assert _wait(lambda: RemovalRequest.objects.get(pk=request.pk).status == Status.COMPLETED, process=worker)
    assert BlocklistVersion.objects.get(release=release).key_count == 1


def test_a_new_request_is_matched_on_the_workers_segment_by_segment(worker, release, release_on_disk, operator):
    from apps.datasets.services import release_import
    from apps.removals.tasks import request_match_task

    other = release_import(dataset="other", release="r1", path=release_on_disk.path, actor=operator).release
    sample = release_on_disk.data.successful()[2]
    request = request_create(category="other", actor=operator,
                             identifiers=[ParsedIdentifier(line=2, kind="sha256", value=sample.sha256)])
    request_match_task.delay(request.pk)  # what the admin's add form queues

    def matched():
        return set(request.matches.values_list("release_id", flat=True)) == {release.pk, other.pk}

    assert _wait(matched, process=worker)
    assert _wait(lambda: request.identifiers.get().match_count == 2, process=worker)
