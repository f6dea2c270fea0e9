import pytest
from django.core.management.base import CommandError

from apps.audit.models import AuditEvent, AuditHead
from apps.audit.services import audit_record
from apps.core.actors import Actor


@pytest.fixture
def trail(db, django_capture_on_commit_callbacks):
    actor = Actor(label="user:alice")
    for i in range(4):
        with django_capture_on_commit_callbacks(execute=True):  # as each commit would: a checkpoint written
            audit_record(actor=actor, action="request.approved", before={"status": "received"},
                         after={"status": "approved", "n": i})
    return list(AuditEvent.objects.order_by("id"))


def test_it_chains_each_event_to_the_one_before(trail, run_command):
    assert trail[0].prev_hash == "0" * 64
    for before, after in zip(trail, trail[1:], strict=False):
        assert after.prev_hash == before.hash
    out, _ = run_command("verify_audit")
    assert "audit trail intact: 4 events (the checkpoint of " in out and "recorded 4)" in out


def test_it_names_the_first_altered_event(trail, run_command):
    AuditEvent.objects.filter(pk=trail[1].pk).update(after={"status": "rejected"})
    with pytest.raises(CommandError, match=f"broken at event {trail[1].pk}: its content does not match"):
        run_command("verify_audit")


def test_it_names_the_event_after_a_removed_one(trail, run_command):
    AuditEvent.objects.filter(pk=trail[2].pk).delete()
    with pytest.raises(CommandError, match=f"broken at event {trail[3].pk}: the event before it"):
        run_command("verify_audit")


def test_events_cannot_be_changed_or_deleted_through_the_model(trail):
    event = trail[0]
    event.action = "something.else"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()


def test_staff_can_read_but_not_edit_the_trail(trail, client, staff):
    client.force_login(staff)
    assert client.get("/admin/audit/auditevent/").status_code == 200
    assert client.get(f"/admin/audit/auditevent/{trail[0].pk}/change/").status_code == 200
    assert client.post(f"/admin/audit/auditevent/{trail[0].pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert AuditEvent.objects.count() == 4


def test_it_notices_the_newest_events_removed(trail, run_command):
    AuditEvent.objects.filter(pk__in=[trail[2].pk, trail[3].pk]).delete()
    with pytest.raises(CommandError, match=f"the database ends at event {trail[1].pk} but the checkpoint of .* "
                                           f"recorded 4 events, up to event {trail[3].pk}: 2 newest events deleted"):
        run_command("verify_audit")


def test_an_event_written_after_the_newest_were_removed_shows_the_gap(trail, run_command):
    AuditEvent.objects.filter(pk__in=[trail[2].pk, trail[3].pk]).delete()

    later = audit_record(actor=Actor(label="user:bob"), action="request.approved")

    assert later.prev_hash == trail[3].hash  # linked to what was the newest, not to what is left
    with pytest.raises(CommandError, match=f"broken at event {later.pk}: the event before it was altered or removed"):
        run_command("verify_audit")


def test_staff_with_the_legal_role_see_the_verdict_in_the_admin(trail, client, staff_with):
    client.force_login(staff_with("counsel", "legal"))
    assert "Verify the trail" in client.get("/admin/audit/auditevent/").content.decode()
    page = client.get("/admin/audit/auditevent/verify/").content.decode()
    assert "audit trail intact: 4 events" in page and 'class="success"' in page

    AuditEvent.objects.filter(pk=trail[3].pk).delete()
    AuditHead.objects.all().delete()
    page = client.get("/admin/audit/auditevent/verify/").content.decode()
    assert "recorded 4 events, up to event" in page and "1 newest event deleted" in page and 'class="error"' in page

    client.force_login(staff_with("clerk", "intake"))
    assert client.get("/admin/audit/auditevent/verify/").status_code == 403
    client.force_login(staff_with("boss", "admin"))
    assert "1 newest event deleted" in client.get("/admin/audit/auditevent/verify/").content.decode()
