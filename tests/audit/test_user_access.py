"""Who holds which role is part of the record: changes to a user's roles and flags are audited."""
import pytest
from django.contrib.auth.models import Group

from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_verify

pytestmark = pytest.mark.django_db


def _form(user, **changes) -> dict:
    data = {"username": user.username, "first_name": "", "last_name": "", "email": user.email,
            "is_active": "on", "is_staff": "on", "date_joined_0": "2026-11-01", "date_joined_1": "09:00:00",
            "initial-date_joined_0": "2026-11-01", "initial-date_joined_1": "09:00:00",
            "groups": [g.pk for g in user.groups.all()]}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_granting_and_removing_roles_in_the_admin_is_audited(client, staff_with, django_capture_on_commit_callbacks):
    admin = staff_with("boss", "admin")
    clerk = staff_with("clerk", "intake")
    client.force_login(admin)
    roles = {g.name: g.pk for g in Group.objects.all()}

    response = client.post(f"/admin/auth/user/{clerk.pk}/change/",
                           _form(clerk, groups=[roles["intake"], roles["restricted"]]))

    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="user.access_changed")
    assert event.actor_label == "user:boss" and event.object_repr == "clerk"
    assert event.before == {"roles": ["intake"]} and event.after == {"roles": ["intake", "restricted"]}

    client.post(f"/admin/auth/user/{clerk.pk}/change/", _form(clerk, groups=[], is_staff=None))
    last = AuditEvent.objects.filter(action="user.access_changed").latest("id")
    assert last.before == {"is_staff": True, "roles": ["intake", "restricted"]}
    assert last.after == {"is_staff": False, "roles": []}
    # Saving without a change to access writes nothing.
    clerk.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):  # its commit writes the trail's checkpoint
        client.post(f"/admin/auth/user/{clerk.pk}/change/", _form(clerk, is_staff=None, first_name="Clara"))
    assert AuditEvent.objects.filter(action="user.access_changed").count() == 2
    assert audit_chain_verify().reason == ""


def test_deleting_a_user_is_audited(client, staff_with):
    admin = staff_with("boss", "admin")
    gone = staff_with("gone", "reviewer")
    client.force_login(admin)

    response = client.post(f"/admin/auth/user/{gone.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="user.deleted")
    assert event.object_repr == "gone" and event.before["roles"] == ["reviewer"]


def test_changing_what_a_role_may_do_is_audited(client, staff_with):
    from django.contrib.auth.models import Permission

    client.force_login(staff_with("boss", "admin"))
    intake = Group.objects.get(name="intake")
    extra = Permission.objects.get(content_type__app_label="matching", codename="add_allowlistentry")
    kept = list(intake.permissions.values_list("pk", flat=True))

    response = client.post(f"/admin/auth/group/{intake.pk}/change/", {"name": "intake",
                                                                       "permissions": [*kept, extra.pk]})

    assert response.status_code == 302
    event = AuditEvent.objects.get(action="role.permissions_changed")
    assert event.object_repr == "intake" and event.actor_label == "user:boss"
    assert event.after == {"added": ["matching.add_allowlistentry"]} and event.before == {"removed": []}
