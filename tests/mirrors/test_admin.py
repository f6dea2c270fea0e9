import re

import pytest

from apps.audit.models import AuditEvent
from apps.mirrors.models import Mirror, WebhookDelivery
from apps.mirrors.services import mirror_authenticate


@pytest.fixture
def logged_in(client, staff):
    client.force_login(staff)
    return client


def test_it_creates_a_mirror_and_shows_its_token_once(logged_in, release):
    response = logged_in.post("/admin/mirrors/mirror/add/", {
        "name": "university-copy", "contact_email": "ops@uni.example", "webhook_url": "https://uni.example/hook",
        "subscribe": [release.dataset.pk]}, follow=True)
    page = response.content.decode()
    token = re.search(r"(td_mirror_[A-Za-z0-9_-]+)", page).group(1)
    assert "whsec_" in page
    mirror = Mirror.objects.get(name="university-copy")
    assert mirror_authenticate(token=token) == mirror
    assert token not in logged_in.get(f"/admin/mirrors/mirror/{mirror.pk}/change/").content.decode()
    assert list(mirror.datasets.values_list("name", flat=True)) == ["demo"]
    assert AuditEvent.objects.filter(action="mirror.token_issued", object_id=str(mirror.pk)).exists()


def test_it_lists_mirrors_with_their_acknowledgements(logged_in, release, operator, run_command):
    run_command("create_mirror", "lab", "--subscribe", "demo")
    assert logged_in.get("/admin/mirrors/mirror/").status_code == 200
    mirror = Mirror.objects.get()
    assert logged_in.get(f"/admin/mirrors/mirror/{mirror.pk}/change/").status_code == 200
    assert logged_in.get("/admin/mirrors/acknowledgement/").status_code == 200
    assert logged_in.get("/admin/mirrors/webhookdelivery/").status_code == 200


def test_it_retries_failed_deliveries_from_the_admin(logged_in, release, release_on_disk, operator,
                                                      django_capture_on_commit_callbacks):
    from apps.core.actors import Actor
    from apps.mirrors.services import mirror_create
    from apps.removals.parsing import ParsedIdentifier
    from apps.removals.services import request_approve, request_create, request_publish

    mirror_create(name="hooked", datasets=[release.dataset], webhook_url="https://hooks.example/x",
                  actor=Actor.system())
    request = request_create(category="other", actor=operator, identifiers=[
        ParsedIdentifier(2, "key", release_on_disk.data.successful()[0].key)])
    request_approve(request=request, actor=operator)
    request_publish(request=request, actor=operator)
    WebhookDelivery.objects.update(status="failed", attempt_count=8, next_attempt_at=None)
    delivery = WebhookDelivery.objects.get()
    response = logged_in.post("/admin/mirrors/webhookdelivery/", {
        "action": "retry_selected", "_selected_action": [delivery.pk]}, follow=True)
    assert "Queued 1 deliveries" in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("pending", 0)
