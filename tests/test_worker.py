"""Background work on a real Celery worker process: Redis in CI, the folder broker locally."""
import os

import pytest
from django.conf import settings
from django.db import connection
from standardwebhooks.webhooks import Webhook

from apps.blocklists.models import BlocklistVersion
from apps.core.actors import Actor
from apps.mirrors.models import WebhookDelivery
from apps.mirrors.services import mirror_create
from apps.removals.models import RemovalRequest, Status
from apps.removals.parsing import ParsedIdentifier
from apps.removals.services import request_approve_later, request_create, requests_to_resume
from tests.support.workers import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(start_worker):
    return start_worker("solo")


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

    assert wait_for(lambda: RemovalRequest.objects.get(pk=request.pk).status == Status.PUBLISHED, workers=[worker]), \
        "the worker did not publish the approved request"
    version = BlocklistVersion.objects.get(release=release)
    assert sample.key in set(version.release.matches.values_list("key", flat=True))
    [delivery] = receiver.wait_for(1, timeout=60)
    payload = Webhook(mirror.webhook_secret).verify(delivery.body, delivery.headers)
    assert payload["data"]["version"] == version.version
    assert wait_for(lambda: WebhookDelivery.objects.get().status == "delivered", workers=[worker])


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
    assert wait_for(lambda: RemovalRequest.objects.get(pk=request.pk).status == Status.COMPLETED, workers=[worker])
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

    assert wait_for(matched, workers=[worker])
    assert wait_for(lambda: request.identifiers.get().match_count == 2, workers=[worker])
