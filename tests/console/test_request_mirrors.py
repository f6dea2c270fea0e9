"""The request page's Mirrors: for each version removing the request's samples, which mirrors applied it (when),
which still serve them and which are past the acknowledgement deadline; masked requests show it too."""
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.blocklists.models import BlocklistVersion
from apps.core.actors import Actor
from apps.mirrors.models import Acknowledgement, Subscription
from apps.mirrors.selectors import request_mirror_states
from apps.mirrors.services import ack_record, mirror_create
from tests.support.removals import approve_and_publish


@pytest.fixture
def published(release, release_on_disk, operator):
    """A csam removal published 90 minutes ago (its deadline is an hour); three mirrors: one applied it, one
    subscribed a moment ago (its clock started then: still serving), one subscribed long ago (overdue)."""
    mirrors = {name: mirror_create(name=name, datasets=[release.dataset], actor=Actor.system()).mirror
               for name in ("applied-copy", "fresh-copy", "late-copy")}
    key = release_on_disk.data.successful()[0].key
    request, [version] = approve_and_publish(operator, [key], "csam")
    BlocklistVersion.objects.filter(pk=version.pk).update(created_at=timezone.now() - timedelta(minutes=90))
    Subscription.objects.exclude(mirror__name="fresh-copy").update(created_at=timezone.now() - timedelta(days=5))
    ack_record(mirror=mirrors["applied-copy"], dataset="demo", release="2026-11", version=1, status="applied")
    ack_record(mirror=mirrors["late-copy"], dataset="demo", release="2026-11", version=1, status="failed")
    return request, version, key


def test_the_selector_tells_applied_still_serving_and_overdue(published):
    request, version, _ = published
    [found] = request_mirror_states(request=request)
    assert found.version == version and found.not_held == 0
    states = {s.mirror.name: s for s in found.mirrors}
    assert {name: s.state for name, s in states.items()} == {
        "applied-copy": "applied", "fresh-copy": "still serving", "late-copy": "overdue"}
    applied = Acknowledgement.objects.get(mirror__name="applied-copy")
    assert states["applied-copy"].applied_at == applied.created_at
    assert states["fresh-copy"].deadline > timezone.now() > states["late-copy"].deadline


def test_a_later_version_applied_covers_this_one(published, release_on_disk, operator):
    request, _, _ = published
    approve_and_publish(operator, [release_on_disk.data.successful()[1].key], "copyright")
    ack_record(mirror=_mirror("late-copy"), dataset="demo", release="2026-11", version=2, status="applied")
    states = {s.mirror.name: s for s in request_mirror_states(request=request)[0].mirrors}
    assert (states["late-copy"].state, states["late-copy"].applied_version) == ("applied", 2)


def _mirror(name):
    from apps.mirrors.models import Mirror

    return Mirror.objects.get(name=name)


def _rows(page: str) -> dict[str, str]:
    return dict(re.findall(r'class="request-mirror" data-mirror="([^"]+)" data-state="([^"]+)"', page))


@pytest.mark.parametrize("roles", [("reviewer",), ("reviewer", "restricted")])
def test_the_request_page_shows_them_to_every_reviewer_and_names_nothing_restricted(client, staff_with, published,
                                                                                     roles):
    request, version, key = published
    client.force_login(staff_with("someone", *roles))
    page = client.get(f"/admin/removals/removalrequest/{request.pk}/change/").content.decode()
    section = page[page.index('id="mirrors"'):]
    assert _rows(page) == {"applied-copy": "applied", "fresh-copy": "still serving", "late-copy": "overdue"}
    assert f'href="/admin/blocklists/blocklistversion/{version.pk}/change/"' in section
    assert "OVERDUE: still serving" in section
    assert f'href="/admin/mirrors/mirror/{_mirror("late-copy").pk}/change/"' in section
    # Whoever may not see what the csam request names does not find its key anywhere on the page.
    assert (key in page) == ("restricted" in roles)


def test_the_version_page_shows_its_mirrors_and_the_requests_it_removes(client, staff_with, published):
    request, version, key = published
    client.force_login(staff_with("rev", "reviewer"))
    page = client.get(f"/admin/blocklists/blocklistversion/{version.pk}/change/").content.decode()
    states = dict(re.findall(r'class="version-mirror" data-state="([^"]+)">\s*<td><a href="[^"]+">([^<]+)</a>', page))
    assert {name: state for state, name in states.items()} == {
        "applied-copy": "applied", "fresh-copy": "still serving", "late-copy": "overdue"}
    assert f'href="/admin/removals/removalrequest/{request.pk}/change/">{request.tracking_id}</a>' in page
    assert "(releases held not recorded)" in page and key not in page


def test_a_reinstated_request_shows_the_version_that_un_blocks_it_and_who_applied_it(
        client, staff_with, release, release_on_disk, operator):
    from apps.removals.legal import request_reinstate_now
    from tests.support.removals import publish

    copy = mirror_create(name="copy", datasets=[release.dataset], actor=Actor.system()).mirror
    request, [removed_by] = approve_and_publish(operator, [release_on_disk.data.successful()[0].key])
    ack_record(mirror=copy, dataset="demo", release="2026-11", version=removed_by.version, status="applied")
    lawyer = staff_with("lena", "legal")
    request_reinstate_now(request=request, actor=Actor.for_user(lawyer), reason="licence found")
    request.refresh_from_db()
    [pending] = request_mirror_states(request=request)
    assert pending.reinstated and pending.unblock is None  # the un-block is still being published

    publish(request)
    [found] = request_mirror_states(request=request)
    assert found.version == removed_by and found.unblock.version == removed_by.version + 1
    client.force_login(lawyer)
    page = client.get(f"/admin/removals/removalrequest/{request.pk}/change/").content.decode()
    # The mirror applied the removal, not yet the un-block: it still blocks samples that may be served again.
    assert _rows(page) == {"copy": "blocking"} and "still blocking (not applied yet)" in page
    assert f'href="/admin/blocklists/blocklistversion/{found.unblock.pk}/change/" class="unblock-link"' in page

    ack_record(mirror=copy, dataset="demo", release="2026-11", version=found.unblock.version, status="applied")
    page = client.get(f"/admin/removals/removalrequest/{request.pk}/change/").content.decode()
    assert _rows(page) == {"copy": "unblocked"}
