import pytest

from apps.audit.models import AuditEvent
from apps.matching.models import AllowListEntry


@pytest.fixture
def logged_in(client, staff):
    client.force_login(staff)
    return client


def test_staff_add_an_identifier_to_the_allow_list_and_take_it_off(logged_in, release, eager_tasks):
    bad = logged_in.post("/admin/matching/allowlistentry/add/", {"kind": "md5", "value": "xyz", "reason": "r"})
    assert "is not hexadecimal" in bad.content.decode()
    neither = logged_in.post("/admin/matching/allowlistentry/add/", {"reason": "r"})
    assert "Give either a kind and value, or a release and key." in neither.content.decode()

    logged_in.post("/admin/matching/allowlistentry/add/",
                   {"kind": "md5", "value": "A" * 32, "reason": "our watermark"}, follow=True)
    entry = AllowListEntry.objects.get()
    assert (entry.value, entry.created_by_label) == ("a" * 32, "user:reviewer")
    again = logged_in.post("/admin/matching/allowlistentry/add/", {"kind": "md5", "value": "a" * 32, "reason": "x"})
    assert "already on the allow-list" in again.content.decode()

    logged_in.post("/admin/matching/allowlistentry/", {"action": "revoke_selected", "_selected_action": [entry.pk]})
    entry.refresh_from_db()
    assert entry.revoked_at is not None
    assert logged_in.post(f"/admin/matching/allowlistentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert list(AuditEvent.objects.filter(object_id=str(entry.pk), object_type="matching.allowlistentry")
                .values_list("action", flat=True)) == ["allow_list.revoked", "allow_list.added"]


def test_staff_allow_list_one_sample_of_a_release(logged_in, release, release_on_disk, eager_tasks):
    key = release_on_disk.data.successful()[0].key
    logged_in.post("/admin/matching/allowlistentry/add/", {"release": release.pk, "key": key, "reason": "cleared"})
    entry = AllowListEntry.objects.get()
    assert (entry.scope, entry.release, entry.key) == ("sample", release, key)
