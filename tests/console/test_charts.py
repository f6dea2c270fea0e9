"""The Overview's charts: their numbers from aggregate queries, and the SVG drawn from them."""
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.console import charts, overview
from apps.console.overview import Cell
from apps.core.identifiers import ParsedIdentifier
from apps.datasets.selectors import release_samples
from apps.mirrors.deadlines import mirror_compliance
from apps.mirrors.models import Acknowledgement
from apps.mirrors.services import ack_record, mirror_create
from apps.removals.models import RemovalRequest
from apps.removals.services import request_approve, request_create
from tests.support.removals import publish


def _request(operator, n, category="copyright", received_ago=timedelta(days=1), took=None, completed_ago=None):
    request = request_create(category=category, actor=operator,
                             identifiers=[ParsedIdentifier(2, "url", f"https://c.example/{n}.jpg")])
    now = timezone.now()
    received = now - received_ago
    RemovalRequest.objects.filter(pk=request.pk).update(
        received_at=received, published_at=received + took if took is not None else None,
        completed_at=now - completed_ago if completed_ago is not None else None)
    return request


@pytest.mark.parametrize("took, bucket", [(timedelta(minutes=59), 0), (timedelta(hours=1), 1),
                                          (timedelta(hours=23), 2), (timedelta(days=3), 4),
                                          (timedelta(days=30), 6), (timedelta(days=400), 6)])
def test_a_duration_falls_in_its_bucket(took, bucket):
    assert overview.bucket_of(took) == bucket


@pytest.mark.django_db
def test_time_to_publish_is_counted_per_bucket(operator):
    for n, took in enumerate([timedelta(minutes=30), timedelta(hours=3), timedelta(hours=4), timedelta(days=10)]):
        _request(operator, n, took=took, received_ago=timedelta(days=12))
    _request(operator, 10)  # not published: not counted
    _request(operator, 11, took=timedelta(minutes=5), received_ago=timedelta(weeks=20))  # before the window

    found = overview.time_to_publish()

    assert [n for _, n in found.buckets] == [1, 2, 0, 0, 0, 1, 0]
    assert found.total == 4


@pytest.mark.django_db
def test_requests_per_week_by_category(operator):
    _request(operator, 1, received_ago=timedelta(0), completed_ago=timedelta(0))
    _request(operator, 2, category="privacy", received_ago=timedelta(0))
    _request(operator, 3, received_ago=timedelta(weeks=2))
    _request(operator, 4, received_ago=timedelta(weeks=13))  # before the 12 weeks

    weekly = overview.requests_weekly()

    assert len(weekly.weeks) == 12 and weekly.weeks[-1].weekday() == 0
    assert weekly.received["copyright"][-1] == 1 and weekly.received["privacy"][-1] == 1
    assert weekly.received["copyright"][-3] == 1
    assert sum(map(sum, weekly.received.values())) == 3
    assert weekly.completed["copyright"][-1] == 1 and sum(map(sum, weekly.completed.values())) == 1


@pytest.fixture
def published(release, operator):
    """Two mirrors of the release; a request received three days ago, published in version 1."""
    east = mirror_create(name="east", datasets=[release.dataset], actor=operator).mirror
    west = mirror_create(name="west", datasets=[release.dataset], actor=operator).mirror
    key = release_samples(release=release, limit=1)[0]["key"]
    request = request_create(category="copyright", actor=operator, identifiers=[ParsedIdentifier(2, "key", key)])
    request_approve(request=request, actor=operator)
    [version] = publish(request)
    RemovalRequest.objects.filter(pk=request.pk).update(received_at=timezone.now() - timedelta(days=3))
    return east, west, version


def test_time_to_last_ack_waits_for_every_mirror(release, published):
    east, west, version = published
    ack_record(mirror=east, dataset="demo", release=release.name, version=version.version, status="applied")

    waiting = overview.time_to_last_ack()
    ack_record(mirror=west, dataset="demo", release=release.name, version=version.version, status="applied")
    Acknowledgement.objects.filter(mirror=west).update(updated_at=timezone.now() + timedelta(days=5))
    done = overview.time_to_last_ack()

    assert (waiting.waiting, waiting.total) == (1, 0)
    assert done.waiting == 0
    # Received 3 days ago, the last mirror (west) applied it 5 days from now: 8 days, in "7–30 d".
    assert dict(done.buckets) == {**{label: 0 for _, label in overview.BUCKETS}, "7–30 d": 1}


def test_a_failed_acknowledgement_does_not_count(release, published):
    east, west, version = published
    ack_record(mirror=east, dataset="demo", release=release.name, version=version.version, status="applied")
    ack_record(mirror=west, dataset="demo", release=release.name, version=version.version, status="failed")

    assert overview.time_to_last_ack().waiting == 1


def test_mirror_lag_history_ends_at_the_lag_mirror_compliance_reports(release, published):
    east, west, version = published
    type(version).objects.filter(pk=version.pk).update(created_at=timezone.now() - timedelta(days=10))
    ack_record(mirror=east, dataset="demo", release=release.name, version=version.version, status="applied")
    Acknowledgement.objects.filter(mirror=east).update(updated_at=timezone.now() - timedelta(days=4))

    history = overview.mirror_lag_history()

    series = dict((m.name, points) for m, points in history.series)
    assert len(history.days) == 30
    assert series["west"][-11:] == [1] * 11 and set(series["west"][:-11]) == {0}
    assert series["east"][-11:] == [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0] and set(series["east"][:-11]) == {0}
    today = {state.mirror.name: sum(r.lag for r in state.releases) for state in mirror_compliance()}
    assert {name: points[-1] for name, points in series.items()} == today == {"east": 0, "west": 1}


def test_a_column_chart_has_a_title_a_label_and_a_tooltip_per_bar():
    svg = str(charts.stacked_columns(chart_id="c", title="Requests <received>", labels=["01 Jan", "08 Jan"],
                                     series=[("csam", "CSAM", "#000"), ("copyright", "Copyright", "#111")],
                                     values={"csam": [1, 0], "copyright": [2, 5]}))

    assert svg.startswith('<svg id="c" class="chart" role="img"')
    assert '<title id="c-title">Requests &lt;received&gt;</title>' in svg
    assert 'aria-label="Requests &lt;received&gt;: 01 Jan 3, 08 Jan 5"' in svg
    assert re.findall(r"<rect [^>]*><title>([^<]*)</title>", svg) == [
        "01 Jan: 1 CSAM requests", "01 Jan: 2 Copyright requests", "08 Jan: 5 Copyright requests"]
    heights = [float(h) for h in re.findall(r'<rect x="[^"]+" y="[^"]+" width="[^"]+" height="([^"]+)"', svg)]
    assert heights[2] == pytest.approx(heights[1] * 2.5)  # to scale


def test_a_heat_map_colours_empty_shards_grey_and_the_fullest_darkest():
    svg = str(charts.heatmap(chart_id="h", title="Heat", cells=[Cell("00000", 10, 0), Cell("00001", 10, 1),
                                                                 Cell("00002", 10, 9)]))

    fills = re.findall(r'fill="(#[0-9a-f]{6})" stroke', svg)
    assert fills == ["#eeeeee", charts.heat_colour(1, 9), "#800026"]
    assert "<title>00002: 9 removed of 10 samples</title>" in svg
    assert 'aria-label="Heat: 3 cells, 2 with removed samples, at most 9 in one"' in svg


def test_lines_draw_a_point_per_day_per_mirror():
    svg = str(charts.lines(chart_id="l", title="Lag", labels=["a", "b", "c"], series=[("east", [0, 2, 1])]))

    assert re.findall(r"<circle [^>]*><title>([^<]*)</title>", svg) == [
        "east a: 0 versions behind", "east b: 2 versions behind", "east c: 1 versions behind"]
    assert "today: east 1" in svg
