import pytest

from apps.audit.models import AuditEvent
from apps.audit.services import audit_checkpoint
from apps.core.identifiers import ParsedIdentifier
from apps.matching.services import request_match
from apps.removals.models import RemovalRequest, Status
from apps.removals.services import request_create


@pytest.fixture
def logged_in(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def pending(release, release_on_disk, operator):
    samples = release_on_disk.data.successful()
    request = request_create(category="copyright", source="web", reference="DMCA-9", actor=operator, identifiers=[
        ParsedIdentifier(line=2, kind="key", value=samples[0].key),
        ParsedIdentifier(line=3, kind="key", value=samples[25].key),
        ParsedIdentifier(line=4, kind="md5", value="0" * 32),
    ])
    request_match(request=request)
    return request


def test_it_lists_the_queue_with_filters(logged_in, pending):
    for query in ("", "?category__exact=copyright", "?status__exact=received", "?due=overdue", "?q=DMCA-9"):
        response = logged_in.get(f"/admin/removals/removalrequest/{query}")
        assert response.status_code == 200
    assert pending.tracking_id in logged_in.get("/admin/removals/removalrequest/?q=DMCA-9").content.decode()
    assert pending.tracking_id not in logged_in.get(
        "/admin/removals/removalrequest/?category__exact=csam").content.decode()


def test_it_shows_matches_grouped_by_release_and_shard(logged_in, pending, release_on_disk):
    page = logged_in.get(f"/admin/removals/removalrequest/{pending.pk}/change/").content.decode()
    samples = release_on_disk.data.successful()
    assert "Matches by release and shard (2)" in page
    assert "demo/2026-11 — 2 samples" in page
    for sample in (samples[0], samples[25]):
        assert f"<strong>{sample.shard}</strong>" in page and sample.key in page
    assert "Identifiers that match nothing (1)" in page
    assert "Approve and publish" in page


def test_it_approves_from_the_request_page_and_queues_publication(
        logged_in, pending, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = logged_in.post(f"/admin/removals/removalrequest/{pending.pk}/do/approve/", follow=True)
    assert "Approved " + pending.tracking_id in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == Status.APPROVED and pending.approved_by_label == "user:reviewer"
    # The publish task, sent once the approval commits (besides the audit trail's checkpoint).
    assert len([c for c in callbacks if c is not audit_checkpoint]) == 1
    again = logged_in.post(f"/admin/removals/removalrequest/{pending.pk}/do/approve/", follow=True)
    assert "only received, in-triage or needs-information requests can be approved" in again.content.decode()
    assert logged_in.get(f"/admin/removals/removalrequest/{pending.pk}/do/approve/").status_code == 405


def test_it_approves_in_bulk_from_the_queue(logged_in, pending, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        logged_in.post("/admin/removals/removalrequest/", {
            "action": "approve_selected", "_selected_action": [pending.pk]}, follow=True)
    pending.refresh_from_db()
    assert pending.status == Status.APPROVED


def test_it_logs_a_staff_request_and_names_bad_lines(logged_in, release, django_capture_on_commit_callbacks):
    bad = logged_in.post("/admin/removals/removalrequest/add/", {
        "category": "privacy", "source": "email", "reference": "GDPR-1", "notes": "",
        "identifiers_csv": "kind,value\nurl,https://e.com/a.jpg\nsha1,xyz\n"})
    assert bad.status_code == 200
    assert "line 3: sha1 &#x27;xyz&#x27; is not hexadecimal" in bad.content.decode()
    assert not RemovalRequest.objects.exists()

    with django_capture_on_commit_callbacks() as callbacks:
        good = logged_in.post("/admin/removals/removalrequest/add/", {
            "category": "privacy", "source": "email", "reference": "GDPR-1", "notes": "by phone",
            "identifiers_csv": "kind,value\nurl,https://e.com/a.jpg\n"}, follow=True)
    request = RemovalRequest.objects.get()
    assert request.tracking_id in good.content.decode()
    assert (request.category, request.reference, request.identifiers.count()) == ("privacy", "GDPR-1", 1)
    assert AuditEvent.objects.filter(action="request.received", actor_label="user:reviewer").exists()
    assert len([c for c in callbacks if c is not audit_checkpoint]) == 1  # matching runs on a worker


def test_it_never_deletes_a_request(logged_in, pending):
    response = logged_in.post(f"/admin/removals/removalrequest/{pending.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert RemovalRequest.objects.filter(pk=pending.pk).exists()


def test_it_requires_staff(client, pending, django_user_model):
    assert client.get("/admin/removals/removalrequest/").status_code == 302
    outsider = django_user_model.objects.create_user("outsider", password="x-y-z-123456")
    client.force_login(outsider)
    assert client.get(f"/admin/removals/removalrequest/{pending.pk}/change/").status_code == 302
    assert client.post(f"/admin/removals/removalrequest/{pending.pk}/do/approve/").status_code == 302
    pending.refresh_from_db()
    assert pending.status == Status.RECEIVED
