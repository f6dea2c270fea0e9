"""A request's page says what background work on it is not done yet, and why."""
import pytest

from apps.core.identifiers import ParsedIdentifier
from apps.events.models import HandlerRun
from apps.removals.services import request_create
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
