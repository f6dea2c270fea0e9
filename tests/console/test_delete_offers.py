"""No admin page offers a delete that is then refused ("Cannot delete ..."): records the product keeps offer no
delete at all (their domain's action retires them: revoke, reject, disable), and a delete that is offered works."""
import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from apps.audit.models import AuditEvent
from tests.console.test_crawl import ROLES
from tests.console.test_restricted_canary import world  # noqa: F401  (the fixture)
from tests.support.world import populate

# Kept for the law or the audit trail, or pointed at by what is: never deleted from the admin.
KEPT = ["removals.removalrequest", "removals.counternotice", "removals.policy", "audit.auditevent",
        "blocklists.blocklistversion", "blocklists.decoypool", "blocklists.decoykey", "mirrors.mirror",
        "mirrors.acknowledgement", "mirrors.feedevent", "mirrors.webhookdelivery", "matching.match",
        "matching.allowlistentry", "datasets.dataset", "datasets.release", "intake.trustedflagger",
        "events.event", "events.handlerrun", "accounts.loginrecord"]


@pytest.fixture
def console(world, release, operator):  # noqa: F811
    return {**world, **populate(release=release, operator=operator)}


def _login(client, role, staff_with, django_user_model):
    held = ROLES[role]
    user = (django_user_model.objects.create_superuser(f"del-{role}", "su@host.example", "unused") if held is None
            else staff_with(f"del-{role}", *held))
    client.force_login(user)


def _info(model) -> str:
    return f"admin:{model._meta.app_label}_{model._meta.model_name}"


@pytest.mark.parametrize("role", ROLES)
def test_no_page_offers_a_delete_that_is_then_refused(client, console, staff_with, django_user_model, role):
    _login(client, role, staff_with, django_user_model)
    refused, kept_offered = [], []
    for model in admin.site._registry:
        label = model._meta.label_lower
        objects = list(model._default_manager.order_by("-pk")[:3])
        listed = client.get(reverse(f"{_info(model)}_changelist")).content.decode()
        bulk = 'value="delete_selected"' in listed
        for obj in objects:
            page = client.get(reverse(f"{_info(model)}_change", args=[obj.pk])).content.decode()
            offered = bool(re.search(r'class="deletelink"', page))
            if not (offered or bulk):
                continue
            if label in KEPT:
                kept_offered.append(label)
            confirm = client.get(reverse(f"{_info(model)}_delete", args=[obj.pk]))
            body = confirm.content.decode()
            if confirm.status_code != 200 or "Cannot delete" in body or "Yes, I’m sure" not in body:
                refused.append(f"{label} {obj.pk}: {confirm.status_code}")

    assert not refused and not kept_offered, (refused, sorted(set(kept_offered)))


def test_the_kept_records_offer_no_delete_even_to_a_superuser(client, console, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@host.example", "unused"))
    for label in KEPT:
        model = next(m for m in admin.site._registry if m._meta.label_lower == label)
        obj = model._default_manager.first()
        if obj is None:
            continue
        assert client.get(reverse(f"{_info(model)}_delete", args=[obj.pk])).status_code == 403, label
        listed = client.get(reverse(f"{_info(model)}_changelist")).content.decode()
        assert 'value="delete_selected"' not in listed, label


def test_a_group_that_is_not_a_role_can_be_deleted_and_it_is_audited_but_a_role_cannot(
        client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@host.example", "unused"))
    extra = Group.objects.create(name="auditors")
    reviewer = Group.objects.get(name="reviewer")

    assert client.get(reverse("admin:auth_group_delete", args=[reviewer.pk])).status_code == 403
    response = client.post(reverse("admin:auth_group_delete", args=[extra.pk]), {"post": "yes"})

    assert response.status_code == 302 and not Group.objects.filter(name="auditors").exists()
    assert AuditEvent.objects.filter(action="role.deleted", object_repr="auditors").exists()
    assert Group.objects.filter(name="reviewer").exists()
