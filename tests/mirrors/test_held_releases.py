"""A mirror records which releases it holds: mirror_status, deadlines and completion count only those; a mirror
that records none is counted against every release of its datasets, and the pages say so."""
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.blocklists.models import BlocklistVersion
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.datasets.services import release_import
from apps.mirrors.models import Mirror, Subscription
from apps.mirrors.services import ack_record, mirror_create, mirror_update
from apps.removals.models import Status
from tests.support.events import run_pending
from tests.support.removals import approve_and_publish, ready


@pytest.fixture
def second(release, release_on_disk, operator):
    """demo/2026-12: the same shards imported again as the dataset's next release."""
    imported = release_import(dataset="demo", release="2026-12", path=release_on_disk.path, actor=operator).release
    ready(imported)
    return imported


def _mirror(name, release, **kwargs):
    mirror = mirror_create(name=name, datasets=[release.dataset], actor=Actor.system(), **kwargs).mirror
    Subscription.objects.filter(mirror=mirror).update(created_at=timezone.now() - timedelta(days=30))
    return mirror


def _published_hours_ago(operator, key, hours):
    request, versions = approve_and_publish(operator, [key], "csam")
    BlocklistVersion.objects.update(created_at=timezone.now() - timedelta(hours=hours))
    return request, versions


def test_mirror_status_counts_only_the_releases_a_mirror_holds(release, second, release_on_disk, operator,
                                                                run_command):
    _mirror("everything", release)
    _mirror("lab", release, releases=[second])
    _, versions = _published_hours_ago(operator, release_on_disk.data.successful()[0].key, hours=3)
    assert sorted(str(v) for v in versions) == ["demo/2026-11 v1", "demo/2026-12 v1"]

    rows = {row["name"]: row for row in json.loads(run_command("mirror_status", "--json")[0])}
    lab, everything = rows["lab"], rows["everything"]
    assert [(r["release"], r["overdue"]) for r in lab["releases"]] == [("2026-12", True)]
    assert lab["releases_recorded"] is True
    assert sorted((r["release"], r["overdue"]) for r in everything["releases"]) == [
        ("2026-11", True), ("2026-12", True)]
    assert everything["releases_recorded"] is False

    out, _ = run_command("mirror_status")
    lab_part = out[out.index("lab ("):]
    assert "demo/2026-12: published v1, applied nothing" in lab_part and "demo/2026-11" not in lab_part
    everything_part = out[out.index("everything ("):out.index("lab (")]
    assert "releases held: not recorded, so every release of demo is counted" in everything_part
    assert "demo/2026-11: published v1" in everything_part and "demo/2026-12: published v1" in everything_part


def test_a_release_the_mirror_does_not_hold_does_not_keep_a_request_from_completing(
        release, second, release_on_disk, operator):
    lab = _mirror("lab", release, releases=[second])
    request, _ = approve_and_publish(operator, [release_on_disk.data.successful()[0].key])
    ack_record(mirror=lab, dataset="demo", release="2026-12", version=1, status="applied")
    run_pending()
    request.refresh_from_db()
    # Before, lab was waited for on demo/2026-11 too, which it never serves: the request stayed published.
    assert request.status == Status.COMPLETED


def test_a_mirror_recording_no_release_still_counts_for_every_release(release, second, release_on_disk, operator):
    everything = _mirror("everything", release)
    request, _ = approve_and_publish(operator, [release_on_disk.data.successful()[0].key])
    ack_record(mirror=everything, dataset="demo", release="2026-12", version=1, status="applied")
    run_pending()
    request.refresh_from_db()
    assert request.status == Status.PUBLISHED  # demo/2026-11 not applied yet
    ack_record(mirror=everything, dataset="demo", release="2026-11", version=1, status="applied")
    run_pending()
    request.refresh_from_db()
    assert request.status == Status.COMPLETED


def test_staff_record_releases_held_in_the_admin_audited(client, staff, release, second):
    client.force_login(staff)
    lab = _mirror("lab", release)
    page = client.get(f"/admin/mirrors/mirror/{lab.pk}/change/").content.decode()
    assert "Releases held not recorded: every release of its datasets is counted" in page
    form = {"contact_email": "", "webhook_url": "", "subscribe": [release.dataset_id], "hold": [second.pk],
            "subscriptions-TOTAL_FORMS": "0", "subscriptions-INITIAL_FORMS": "0",
            "acknowledgements-TOTAL_FORMS": "0", "acknowledgements-INITIAL_FORMS": "0",
            "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"}
    response = client.post(f"/admin/mirrors/mirror/{lab.pk}/change/", form, follow=True)
    assert response.status_code == 200
    assert list(lab.releases.all()) == [second]
    event = AuditEvent.objects.get(action="mirror.changed", object_id=str(lab.pk))
    assert (event.before["releases"], event.after["releases"]) == ([], ["demo/2026-12"])
    page = client.get(f"/admin/mirrors/mirror/{lab.pk}/change/").content.decode()
    assert "Releases held not recorded" not in page
    listing = client.get("/admin/mirrors/mirror/").content.decode()
    assert "demo/2026-12" in listing and "not recorded (all of its datasets" not in listing

    # A release of a dataset it does not subscribe to is refused on the form.
    refused = client.post(f"/admin/mirrors/mirror/{lab.pk}/change/", {**form, "subscribe": []}).content.decode()
    assert "Not a release of a dataset it subscribes to: demo/2026-11" not in refused
    assert "Not a release of a dataset it subscribes to: demo/2026-12." in refused
    assert list(lab.releases.all()) == [second]


def test_the_services_refuse_a_stray_release_and_drop_those_of_a_dataset_let_go(release, second, operator):
    lab = _mirror("lab", release, releases=[second])
    with pytest.raises(TakedownError, match="only releases of the datasets it subscribes to: not demo/2026-12"):
        mirror_create(name="other", datasets=[], releases=[second], actor=Actor.system())
    mirror_update(mirror=lab, webhook_url="", contact_email="", datasets=[], actor=operator)
    assert not Mirror.objects.get(pk=lab.pk).releases.exists()


def test_the_mirror_list_sorts_by_lag_and_by_overdue(client, staff, release, release_on_disk, operator):
    client.force_login(staff)
    behind = _mirror("b-behind", release)
    _mirror("a-late", release)
    request, [version] = approve_and_publish(operator, [release_on_disk.data.successful()[0].key])
    ack_record(mirror=behind, dataset="demo", release="2026-11", version=1, status="applied")
    # A second version: a-late is 2 behind and past the deadline of the first; b-behind is 1 behind, on time.
    approve_and_publish(operator, [release_on_disk.data.successful()[1].key])
    BlocklistVersion.objects.filter(version=1).update(created_at=timezone.now() - timedelta(days=30))
    Subscription.objects.update(created_at=timezone.now() - timedelta(days=60))

    from apps.mirrors.admin import MirrorAdmin
    lag = MirrorAdmin.list_display.index("lag") + 1  # after the action checkbox
    overdue = MirrorAdmin.list_display.index("overdue") + 1

    def order(o):
        page = client.get(f"/admin/mirrors/mirror/?o={o}").content.decode()
        return sorted(("a-late", "b-behind"), key=page.index)

    assert order(f"{lag}") == ["b-behind", "a-late"]
    assert order(f"-{lag}") == ["a-late", "b-behind"]
    assert order(f"-{overdue}") == ["a-late", "b-behind"]
    page = client.get("/admin/mirrors/mirror/").content.decode()
    assert 'style="color:#ba2121">ESCALATED</strong> demo/2026-11 v1 was due' in page
    assert "2 versions behind" in page and "1 version behind" in page


def test_create_mirror_records_releases_held(release, second, run_command):
    out, _ = run_command("create_mirror", "lab", "--subscribe", "demo", "--hold", "demo/2026-12")
    assert "Mirror lab subscribed to demo, holding demo/2026-12" in out
    assert list(Mirror.objects.get(name="lab").releases.all()) == [second]
    out, _ = run_command("create_mirror", "all", "--subscribe", "demo")
    assert "releases held not recorded" in out
    with pytest.raises(CommandError, match="has no release 'nope'"):
        run_command("create_mirror", "other", "--subscribe", "demo", "--hold", "demo/nope")
