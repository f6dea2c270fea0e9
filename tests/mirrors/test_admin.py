import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.blocklists.models import BlocklistVersion
from apps.mirrors.models import Mirror, Subscription, WebhookDelivery
from apps.mirrors.services import mirror_authenticate
from tests.mirrors.support import publish
from tests.support.removals import publish as publish_request


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
    from apps.core.identifiers import ParsedIdentifier
    from apps.mirrors.services import mirror_create
    from apps.removals.services import request_approve, request_create

    mirror_create(name="hooked", datasets=[release.dataset], webhook_url="https://hooks.example/x",
                  actor=Actor.system())
    request = request_create(category="other", actor=operator, identifiers=[
        ParsedIdentifier(2, "key", release_on_disk.data.successful()[0].key)])
    request_approve(request=request, actor=operator)
    publish_request(request)
    WebhookDelivery.objects.update(status="failed", attempt_count=8, next_attempt_at=None)
    delivery = WebhookDelivery.objects.get()
    response = logged_in.post("/admin/mirrors/webhookdelivery/", {
        "action": "retry_selected", "_selected_action": [delivery.pk]}, follow=True)
    assert "Queued 1 deliveries" in response.content.decode()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("pending", 0)


# ---------------------------------------------------------------- managing a mirror: actions, deliveries, compliance

def _action(client, action, mirror):
    return client.post("/admin/mirrors/mirror/", {"action": action, "_selected_action": [mirror.pk]}, follow=True)


@pytest.fixture
def hooked(release):
    from apps.core.actors import Actor
    from apps.mirrors.services import mirror_create

    return mirror_create(name="hooked", datasets=[release.dataset], webhook_url="https://hooks.example/x",
                         contact_email="ops@hooked.example", actor=Actor.system())


def test_it_rotates_a_token_and_a_webhook_secret_showing_each_once(logged_in, hooked):
    mirror = hooked.mirror
    page = _action(logged_in, "rotate_token", mirror).content.decode()
    token = re.search(r"New token for hooked \(shown once, copy it now\): (td_mirror_[A-Za-z0-9_-]+)", page).group(1)
    assert mirror_authenticate(token=hooked.token) is None
    assert mirror_authenticate(token=token) == mirror

    page = _action(logged_in, "rotate_webhook_secret", mirror).content.decode()
    secret = re.search(r"New webhook signing secret for hooked \(shown once, copy it now\): (whsec_[^\s<]+)",
                       page).group(1)
    mirror.refresh_from_db()
    assert mirror.webhook_secret == secret != hooked.webhook_secret
    assert secret not in logged_in.get(f"/admin/mirrors/mirror/{mirror.pk}/change/").content.decode()
    assert AuditEvent.objects.filter(action="mirror.webhook_secret_rotated", object_id=str(mirror.pk)).exists()


def test_a_mirror_without_a_webhook_has_no_secret_to_rotate(logged_in, release, operator, run_command):
    run_command("create_mirror", "lab", "--subscribe", "demo")
    page = _action(logged_in, "rotate_webhook_secret", Mirror.objects.get()).content.decode()
    assert "has no webhook URL, so no signing secret" in page


def test_setting_a_webhook_url_in_the_admin_makes_a_secret(logged_in, release, operator, run_command):
    run_command("create_mirror", "lab", "--subscribe", "demo")
    mirror = Mirror.objects.get()
    subscription = mirror.subscriptions.get()
    response = logged_in.post(f"/admin/mirrors/mirror/{mirror.pk}/change/", {
        "contact_email": "ops@lab.example", "webhook_url": "https://lab.example/hook",
        "active": "",  # not a field any more: revoking and re-enabling go through their actions
        "subscriptions-TOTAL_FORMS": "1", "subscriptions-INITIAL_FORMS": "1",
        "subscriptions-0-id": subscription.pk, "subscriptions-0-mirror": mirror.pk,
        "subscriptions-0-dataset": subscription.dataset_id,
        "acknowledgements-TOTAL_FORMS": "0", "acknowledgements-INITIAL_FORMS": "0",
        "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0",
    }, follow=True)
    page = response.content.decode()
    mirror.refresh_from_db()
    assert mirror.webhook_url == "https://lab.example/hook" and mirror.active
    assert mirror.webhook_secret.startswith("whsec_") and mirror.webhook_secret in page
    assert AuditEvent.objects.get(action="mirror.changed").after["secret_generated"] is True


def test_revoking_is_final_and_audited(logged_in, hooked, release, release_on_disk, operator):
    publish(operator, release_on_disk.data.successful()[0].key, "other")
    mirror = hooked.mirror
    assert "Revoked hooked." in _action(logged_in, "revoke", mirror).content.decode()
    mirror.refresh_from_db()
    assert not mirror.active and mirror.revoked_at and mirror.disabled_reason == "revoked by user:reviewer"
    assert mirror_authenticate(token=hooked.token) is None
    assert WebhookDelivery.objects.get().status == "failed"
    assert AuditEvent.objects.filter(action="mirror.revoked", object_id=str(mirror.pk)).exists()
    page = _action(logged_in, "reenable", mirror).content.decode()
    assert "was revoked and cannot be re-enabled" in page


def test_it_re_enables_a_disabled_mirror(logged_in, hooked):
    mirror = hooked.mirror
    Mirror.objects.filter(pk=mirror.pk).update(disabled_at=timezone.now(), consecutive_failures=5,
                                              disabled_reason="its last 5 webhook deliveries failed")
    page = logged_in.get("/admin/mirrors/mirror/").content.decode()
    assert "its last 5 webhook deliveries failed" in logged_in.get(
        f"/admin/mirrors/mirror/{mirror.pk}/change/").content.decode()
    assert "Re-enable the webhooks" in page and "disabled since" in page
    assert "Re-enabled the webhooks of hooked" in _action(logged_in, "reenable", mirror).content.decode()
    mirror.refresh_from_db()
    assert mirror.active and mirror.disabled_at is None and mirror.consecutive_failures == 0
    assert mirror_authenticate(token=hooked.token) == mirror
    assert "are not disabled" in _action(logged_in, "reenable", mirror).content.decode()


def test_the_mirror_page_shows_its_deliveries_and_compliance(logged_in, hooked, release, release_on_disk, operator):
    from apps.mirrors.models import WebhookAttempt

    publish(operator, release_on_disk.data.successful()[0].key, "csam")
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.update(status="failed", attempt_count=8, next_attempt_at=None)
    WebhookAttempt.objects.create(delivery=delivery, started_at=delivery.created_at, status="failed",
                                  status_code=500, error="", response_excerpt="boom")
    three_hours_ago = timezone.now() - timedelta(hours=3)
    BlocklistVersion.objects.update(created_at=three_hours_ago)
    Subscription.objects.update(created_at=three_hours_ago)

    page = logged_in.get(f"/admin/mirrors/mirror/{hooked.mirror.pk}/change/").content.decode()
    assert "Webhook deliveries (last 30 days" in page and "HTTP 500" in page and "attempts / retry" in page
    assert "ESCALATED: v1 was due" in page
    listing = logged_in.get("/admin/mirrors/mirror/").content.decode()
    # Lag and overdue are columns of their own, overdue in red, with the release and its deadline.
    assert re.search(r'class="mirror-lag"[^>]*>1 version behind, for 3\.0 h<', listing)
    assert re.search(r'<strong class="mirror-overdue" style="color:#ba2121">ESCALATED</strong> demo/2026-11 v1 was due',
                     listing)
    assert "not recorded (all of its datasets" in listing


def test_a_failed_delivery_has_its_own_retry_button(logged_in, hooked, release, release_on_disk, operator,
                                                     django_capture_on_commit_callbacks):
    publish(operator, release_on_disk.data.successful()[0].key, "other")
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.update(status="failed", attempt_count=8, next_attempt_at=None)
    listing = logged_in.get("/admin/mirrors/webhookdelivery/?status__exact=failed").content.decode()
    assert f'formaction="/admin/mirrors/webhookdelivery/{delivery.pk}/retry/"' in listing
    assert logged_in.get(f"/admin/mirrors/webhookdelivery/{delivery.pk}/retry/").status_code == 405
    with django_capture_on_commit_callbacks() as queued:
        response = logged_in.post(f"/admin/mirrors/webhookdelivery/{delivery.pk}/retry/", follow=True)
    assert "Queued 1 deliveries" in response.content.decode() and len(queued) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count) == ("pending", 0)
    assert "formaction" not in logged_in.get("/admin/mirrors/webhookdelivery/").content.decode()


def test_the_mirror_services_refuse_staff_without_the_admin_role(hooked, staff_with):
    from apps.core.actors import Actor
    from apps.core.errors import TakedownError
    from apps.mirrors.services import (
        mirror_reenable,
        mirror_revoke,
        mirror_rotate_token,
        mirror_rotate_webhook_secret,
        mirror_update,
    )

    reviewer = Actor.for_user(staff_with("rev", "reviewer", "restricted"))
    for call in (lambda: mirror_rotate_token(mirror=hooked.mirror, actor=reviewer),
                 lambda: mirror_rotate_webhook_secret(mirror=hooked.mirror, actor=reviewer),
                 lambda: mirror_revoke(mirror=hooked.mirror, actor=reviewer),
                 lambda: mirror_reenable(mirror=hooked.mirror, actor=reviewer),
                 lambda: mirror_update(mirror=hooked.mirror, webhook_url="", contact_email="", actor=reviewer)):
        with pytest.raises(TakedownError, match="only staff with the admin role may"):
            call()
    assert Mirror.objects.get().active and mirror_authenticate(token=hooked.token)


def test_it_refuses_a_webhook_url_on_a_non_public_address(logged_in, release, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    response = logged_in.post("/admin/mirrors/mirror/add/", {
        "name": "metadata", "contact_email": "", "webhook_url": "http://100.64.0.1/latest/meta-data/",
        "subscribe": [release.dataset.pk]})
    page = response.content.decode()
    assert response.status_code == 200  # the form again, with the reason on the field
    assert ("webhook URL http://100.64.0.1/latest/meta-data/ is refused: 100.64.0.1 resolves to the non-public "
            "address 100.64.0.1: the shared address space 100.64.0.0/10") in page
    assert not Mirror.objects.exists()


def test_it_refuses_changing_a_webhook_url_to_a_non_public_address(logged_in, release, run_command, settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    run_command("create_mirror", "lab", "--subscribe", "demo", "--webhook", "https://93.184.216.34/hook")
    mirror = Mirror.objects.get()
    response = logged_in.post(f"/admin/mirrors/mirror/{mirror.pk}/change/", {
        "contact_email": "ops@lab.example", "webhook_url": "http://[2002:c0a8:101::1]/hook",
        "subscribe": [release.dataset.pk],
        "subscriptions-TOTAL_FORMS": "0", "subscriptions-INITIAL_FORMS": "0",
        "acknowledgements-TOTAL_FORMS": "0", "acknowledgements-INITIAL_FORMS": "0",
        "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0",
    })
    assert response.status_code == 200
    assert ("2002:c0a8:101::1 resolves to the non-public address 2002:c0a8:101::1: it carries the 6to4 IPv4 "
            "address 192.168.1.1, a private address") in response.content.decode()
    mirror.refresh_from_db()
    assert (mirror.webhook_url, mirror.contact_email) == ("https://93.184.216.34/hook", "")
    assert not AuditEvent.objects.filter(action="mirror.changed").exists()


def test_the_command_and_the_services_refuse_it_too(run_command, release, hooked, settings):
    from django.core.management.base import CommandError

    from apps.core.actors import Actor
    from apps.core.errors import TakedownError
    from apps.mirrors.services import mirror_update

    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(CommandError, match=r"webhook URL http://\[64:ff9b::a9fe:a9fe\]/hook is refused: "
                                           r"64:ff9b::a9fe:a9fe resolves to the non-public address "
                                           r"64:ff9b::a9fe:a9fe: it stands for the IPv4 address 169\.254\.169\.254"):
        run_command("create_mirror", "cloud", "--subscribe", "demo", "--webhook", "http://[64:ff9b::a9fe:a9fe]/hook")
    assert not Mirror.objects.filter(name="cloud").exists()
    with pytest.raises(TakedownError, match="198.18.0.1: a benchmarking range"):
        mirror_update(mirror=hooked.mirror, webhook_url="http://198.18.0.1/hook", contact_email="",
                      actor=Actor.system())
    assert Mirror.objects.get(pk=hooked.mirror.pk).webhook_url == "https://hooks.example/x"
