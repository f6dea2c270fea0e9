"""A request's page says what background work on it is not done yet, and why."""
import pytest

from apps.core.identifiers import ParsedIdentifier
from apps.events.models import HandlerRun
from apps.removals.services import request_create
from tests.support.events import run_pending
from tests.support.removals import publish

pytestmark = pytest.mark.django_db


def test_work_waiting_retrying_or_dead_shows_on_the_request_page(client, staff, release, release_on_disk, operator):
    sample = release_on_disk.data.successful()[0]
    request = request_create(category="copyright", actor=operator,
                             identifiers=[ParsedIdentifier(line=2, kind="key", value=sample.key)])
    client.force_login(staff)
    url = f"/admin/removals/removalrequest/{request.pk}/change/"
    page = client.get(url).content.decode()
    assert "Background work not done yet" in page and "matching.match_request</a> of request.received" in page
    assert "waiting for a worker since" in page and "Not matched yet: see the background work above." in page

    HandlerRun.objects.filter(handler="matching.match_request").update(
        status="dead", attempts=12, last_error="gave up after 12 tries: OperationalError: disk full")
    page = client.get(url).content.decode()
    assert "dead: needs staff" in page and "OperationalError: disk full" in page

    HandlerRun.objects.update(status="pending", attempts=0)
    publish(request)  # the runs done, as a worker would
    page = client.get(url).content.decode()
    assert "Background work not done yet" not in page and sample.key in page


def test_the_page_names_the_releases_a_request_is_not_matched_against_yet(
        client, staff, release, indexing_release, release_on_disk, operator):
    sample = release_on_disk.data.successful()[0]
    request = request_create(category="copyright", actor=operator, identifiers=[
        ParsedIdentifier(line=2, kind="key", value=sample.key), ParsedIdentifier(line=3, kind="key", value="nope")])
    publish(request)  # matched on arrival, as a worker would: 2026-12 is still indexing
    client.force_login(staff)
    url = f"/admin/removals/removalrequest/{request.pk}/change/"

    page = client.get(url).content.decode()
    assert "Not yet matched against demo/2026-12 (indexing, 0 of 3 shards)" in page
    assert "Identifiers that hit no ready release so far (1)" in page
    assert "Identifiers that match nothing" not in page

    run_pending()  # the release indexed and finalized, and the request matched against it
    page = client.get(url).content.decode()
    assert "Not yet matched against" not in page
    assert "demo/2026-12 — 1 sample" in page
    assert "Identifiers that match nothing (1)" in page
