"""Background work on a real Celery worker process: Redis in CI, the folder broker locally."""
import os

import pytest
from django.conf import settings
from django.db import connection
from standardwebhooks.webhooks import Webhook

from apps.blocklists.models import BlocklistVersion
from apps.core.actors import Actor
from apps.core.identifiers import ParsedIdentifier
from apps.events.models import HandlerRun
from apps.mirrors.models import WebhookDelivery
from apps.mirrors.services import mirror_create
from apps.removals.models import RemovalRequest, Status
from apps.removals.services import request_approve, request_create
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
        worker, release, release_on_disk, receiver, operator, allow_loopback_webhooks):
    mirror = mirror_create(name="hooked", datasets=[release.dataset], webhook_url=receiver.url, actor=operator)
    sample = release_on_disk.data.successful()[0]
    request = request_create(category="csam", actor=operator,
                             identifiers=[ParsedIdentifier(line=2, kind="sha256", value=sample.sha256)])

    request_approve(request=request, actor=Actor(label="user:reviewer"))  # the admin's approve button

    assert wait_for(lambda: RemovalRequest.objects.get(pk=request.pk).status == Status.PUBLISHED, workers=[worker]), \
        "the worker did not publish the approved request"
    version = BlocklistVersion.objects.get(release=release)
    assert sample.key in set(version.release.matches.values_list("key", flat=True))
    [delivery] = receiver.wait_for(1, timeout=60)
    payload = Webhook(mirror.webhook_secret).verify(delivery.body, delivery.headers)
    assert payload["data"]["version"] == version.version
    assert wait_for(lambda: WebhookDelivery.objects.get().status == "delivered", workers=[worker])


def test_a_lost_queue_message_is_sent_again_by_the_reconciler(start_worker, celery_queue, release, release_on_disk,
                                                               operator):
    from project.celery import app

    sample = release_on_disk.data.successful()[1]
    request = request_create(category="ncii", actor=operator,
                             identifiers=[ParsedIdentifier(line=2, kind="key", value=sample.key)])
    request_approve(request=request, actor=operator)
    with app.connection_for_write() as connection:  # the broker loses every message (a restart without its data)
        assert connection.default_channel.queue_purge(celery_queue) >= 1
    worker = start_worker("beat", beat=True, env={"RESUME_INTERVAL_SECONDS": "1", "EVENT_REDISPATCH_SECONDS": "1"})

    # No mirror holds the dataset, so once published the request is also complete.
    assert wait_for(lambda: RemovalRequest.objects.get(pk=request.pk).status == Status.COMPLETED, workers=[worker])
    assert BlocklistVersion.objects.get(release=release).key_count == 1
    assert HandlerRun.objects.filter(handler="matching.match_request", dispatches__gt=1).exists()


def test_a_new_request_is_matched_on_a_worker(worker, release, release_on_disk, operator):
    from apps.datasets.services import release_import

    other = release_import(dataset="other", release="r1", path=release_on_disk.path, actor=operator).release
    sample = release_on_disk.data.successful()[2]
    request = request_create(category="other", actor=operator,  # as the admin's add form does: request.received
                             identifiers=[ParsedIdentifier(line=2, kind="sha256", value=sample.sha256)])

    def matched():
        return set(request.matches.values_list("release_id", flat=True)) == {release.pk, other.pk}

    assert wait_for(matched, workers=[worker])
    assert wait_for(lambda: request.identifiers.get().match_count == 2, workers=[worker])
