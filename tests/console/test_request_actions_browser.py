"""Actions on a request's page in a real browser, as the role that does each."""
import pytest
from playwright.sync_api import expect

from apps.blocklists.models import BlocklistVersion
from apps.blocklists.selectors import blocklist_shard_keys
from apps.events.models import Event
from apps.events.services import events_drain
from apps.removals.models import RemovalRequest, Status
from tests.support.accounts import browser_sign_in
from tests.support.removals import approve_and_publish

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _role_groups(transactional_db):
    """The role groups as the migrations made them: an earlier transactional test's flush dropped them."""
    import importlib

    from django.apps import apps
    from django.contrib.auth.models import Group, Permission

    made = importlib.import_module("apps.removals.migrations.0004_roles")
    for role, names in made.ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        if names == "all":
            group.permissions.set(Permission.objects.all())
            continue
        group.permissions.set([permission for name in names for permission in Permission.objects.filter(
            content_type__app_label=name.split(".")[0], codename=name.split(".")[1])])
    importlib.import_module("apps.removals.migrations.0008_audit_readable_by_every_role").grant(apps, None)


def _log_in(page, live_server, user):
    browser_sign_in(page, live_server.url, user)


def test_a_reviewer_allow_lists_a_false_positive_from_its_match_row(page, live_server, release, release_on_disk,
                                                                   operator, staff_with):
    samples = release_on_disk.data.successful()
    request, _ = approve_and_publish(operator, [samples[0].key, samples[1].key])
    _log_in(page, live_server, staff_with("rita", "reviewer"))
    page.goto(f"{live_server.url}/admin/removals/removalrequest/{request.pk}/change/")

    row = page.locator("#matches tr.match-row", has_text=samples[1].key)
    row.get_by_text("Allow-list", exact=True).click()
    row.get_by_role("textbox").fill("our own logo, not the claimed work")
    row.get_by_role("button", name="Allow-list this sample").click()

    done = page.locator("ul.messagelist li.success")
    expect(done).to_contain_text(f"Allow-listed sample demo/2026-11:{samples[1].key}")
    row = page.locator("#matches tr.match-row", has_text=samples[1].key)
    expect(row).to_contain_text("allow-listed (by user:rita: our own logo, not the claimed work)")
    expect(page.locator("#matches tr.match-row", has_text=samples[0].key).get_by_text("Allow-list", exact=True)) \
        .to_be_visible()

    events_drain(list(Event.objects.filter(name="allow_list.changed")))  # the worker publishes the next version
    latest = BlocklistVersion.objects.filter(release=release).order_by("-version").first()
    assert samples[1].key not in blocklist_shard_keys(version=latest, shard=samples[1].shard)


def test_a_legal_user_reinstates_a_published_request_now(page, live_server, release, release_on_disk, operator,
                                                         staff_with):
    request, _ = approve_and_publish(operator, [release_on_disk.data.successful()[0].key])
    _log_in(page, live_server, staff_with("lena", "legal"))
    page.goto(f"{live_server.url}/admin/removals/removalrequest/{request.pk}/change/")

    page.get_by_role("button", name="Reinstate now").click()  # no reason: the browser asks for one
    assert RemovalRequest.objects.get(pk=request.pk).status != Status.REINSTATED
    page.get_by_label("Reason for reinstating").fill("licence found: CC-BY 4.0")
    page.get_by_role("button", name="Reinstate now").click()
    expect(page.locator("ul.messagelist li.success")).to_contain_text(f"Reinstated {request.tracking_id}")
    expect(page.locator("#reinstate-button")).to_have_count(0)
    assert RemovalRequest.objects.get(pk=request.pk).status == Status.REINSTATED


def test_an_intake_user_without_legal_sees_no_reinstate_button(page, live_server, release, release_on_disk,
                                                               operator, staff_with):
    request, _ = approve_and_publish(operator, [release_on_disk.data.successful()[0].key])
    _log_in(page, live_server, staff_with("ian", "intake"))
    page.goto(f"{live_server.url}/admin/removals/removalrequest/{request.pk}/change/")
    expect(page.locator("#matches")).to_be_visible()
    expect(page.get_by_role("button", name="Reinstate now")).to_have_count(0)
    expect(page.get_by_text("Allow-list this sample")).to_have_count(0)
    expect(page.get_by_role("button", name="Match again")).to_be_visible()
