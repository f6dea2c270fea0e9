"""Intake on a real Celery worker: Redis in CI, the folder broker locally.

A hotline's CSV over the flagger API is approved on receipt and published by the
worker, reaching a subscribed mirror's webhook; a report from the public form is
matched by the worker and its status page then counts the samples it hit.
"""
import re
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient
from standardwebhooks.webhooks import Webhook

from apps.blocklists.models import BlocklistVersion
from apps.core.actors import Actor
from apps.intake.flaggers import flagger_create
from apps.mirrors.services import mirror_create
from apps.removals.models import RemovalRequest, Status
from tests.support.workers import wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(start_worker):
    return start_worker("intake")


def _status(pk: int) -> str:
    return RemovalRequest.objects.values_list("status", flat=True).get(pk=pk)


def test_a_hotline_csv_is_published_by_the_worker_and_reaches_the_mirror(worker, release, release_on_disk,
                                                                         receiver, allow_loopback_webhooks):
    operator = Actor(label="cli:tester")
    mirror = mirror_create(name="uni-copy", datasets=[release.dataset], webhook_url=receiver.url, actor=operator)
    _, token = flagger_create(name="IWF", kind="hotline", actor=operator)
    samples = release_on_disk.data.successful()[:3]
    body = "kind,value\n" + "".join(f"sha256,{s.sha256}\n" for s in samples)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")

    query = urlencode({"category": "csam", "reference": "IWF-77", "hotline": "iwf", "hotline_report_id": "R-77"})
    response = api.post(f"/api/v1/flagger/requests?{query}", body, content_type="text/csv")

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "approved"
    request = RemovalRequest.objects.get(tracking_id=response.json()["tracking_id"])
    assert wait_for(lambda: _status(request.pk) in (Status.PUBLISHED, Status.COMPLETED), workers=[worker]), \
        f"the worker did not publish the hotline's request (status {_status(request.pk)})"
    version = BlocklistVersion.objects.get(release=release)
    assert {s.key for s in samples} <= set(request.matches.values_list("key", flat=True))
    [delivery] = receiver.wait_for(1, timeout=60)
    assert Webhook(mirror.webhook_secret).verify(delivery.body, delivery.headers)["data"]["version"] == version.version
    status = api.get(f"/api/v1/flagger/requests/{request.tracking_id}").json()
    assert status["status"] in ("published", "completed") and status["published_at"]
    assert status["releases"] == [{"dataset": release.dataset.name, "release": release.name,
                                   "matches": request.matches.count()}]
    # Sending the same reference again changes nothing.
    again = api.post(f"/api/v1/flagger/requests?{query}", body, content_type="text/csv")
    assert again.status_code == 200 and again.json()["created"] is False
    assert RemovalRequest.objects.count() == 1


def test_a_public_report_is_matched_by_the_worker(worker, release, release_on_disk, client):
    samples = release_on_disk.data.successful()[3:5]
    fields = {"category": "other", "requester_name": "Ada", "requester_email": "ada@example.org",
              "details": "These are mine", "identifiers": "\n".join(s.url for s in samples)}

    response = client.post("/report/", urlencode(fields), content_type="application/x-www-form-urlencoded")

    assert response.status_code == 200
    html = response.content.decode()
    tracking = re.search(r'id="tracking-id">([^<]+)<', html).group(1)
    secret = re.search(r'id="secret">([^<]+)<', html).group(1)
    request = RemovalRequest.objects.get(tracking_id=tracking)
    assert wait_for(lambda: RemovalRequest.objects.get(pk=request.pk).matched_at is not None, workers=[worker]), \
        "the worker did not match the report"
    page = client.post("/report/status/", urlencode({"tracking_id": tracking, "secret": secret}),
                       content_type="application/x-www-form-urlencoded").content.decode()
    assert request.matches.count() >= 2
    assert tracking in page
    assert re.search(r'id="matched-count">(\d+)<', page).group(1) == str(request.matches.count())
