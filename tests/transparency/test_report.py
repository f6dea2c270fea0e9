"""The transparency report's figures, from data made with the real services and placed in periods."""
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.blocklists.models import BlocklistVersion
from apps.core.categories import Category
from apps.core.identifiers import ParsedIdentifier
from apps.matching.models import Match
from apps.mirrors.models import Mirror, Subscription
from apps.mirrors.services import ack_record, mirror_create
from apps.removals import legal
from apps.removals.models import Channel, RemovalRequest
from apps.removals.services import (
    Intake,
    request_approve,
    request_create,
    request_needs_info,
    request_reject,
)
from apps.transparency.selectors import TOTAL, Period, report
from tests.support.removals import publish as publish_request

pytestmark = pytest.mark.django_db


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make(operator, category: str, *, received: str | None = None, channel: str = Channel.STAFF,
         keys: tuple[str, ...] = ("000000001",), name: str = "", email: str = "") -> RemovalRequest:
    request = request_create(
        category=category, actor=operator, source="Example Org", reference="REF-1",
        identifiers=[ParsedIdentifier(line=i + 2, kind="key", value=key) for i, key in enumerate(keys)],
        intake=Intake(channel=channel, requester_name=name, requester_email=email),
    )
    if received:
        place(request, received_at=at(received))
    return request


def place(request: RemovalRequest, **moments) -> None:
    RemovalRequest.objects.filter(pk=request.pk).update(**moments)


def test_it_counts_requests_received_by_category_and_channel(operator):
    make(operator, Category.COPYRIGHT, received="2025-03-01T00:00", channel=Channel.WEB_FORM)
    make(operator, Category.COPYRIGHT, received="2025-03-15T12:00", channel=Channel.WEB_FORM)
    make(operator, Category.CSAM, received="2025-03-20T08:00", channel=Channel.FLAGGER_API)
    make(operator, Category.PRIVACY, received="2025-03-31T23:59:59", channel=Channel.STAFF)
    make(operator, Category.PRIVACY, received="2025-02-28T23:59:59")  # February
    make(operator, Category.PRIVACY, received="2025-04-01T00:00")  # April

    data = report(Period.parse("2025-03"))
    assert data.received_by_category == {
        "csam": 1, "ncii": 0, "copyright": 2, "privacy": 1, "opt_out": 0, "other": 0}
    assert data.received_by_channel == {"web_form": 2, "flagger_api": 1, "staff": 1, "cli": 0}
    assert data.received_total == 4
    assert report(Period.parse("2025-02")).received_total == 1
    assert report(Period.parse("2025-04")).received_by_category["privacy"] == 1


def test_a_quarter_adds_up_its_three_months(operator):
    for moment in ("2025-01-01T00:00", "2025-02-14T10:00", "2025-03-31T23:59:59", "2025-03-02T00:00"):
        make(operator, Category.OPT_OUT, received=moment, channel=Channel.CLI)
    make(operator, Category.OPT_OUT, received="2025-04-01T00:00")
    make(operator, Category.OPT_OUT, received="2024-12-31T23:59:59")

    months = [report(m) for m in Period.parse("2025-Q1").months()]
    quarter = report(Period.parse("2025-Q1"))
    assert [m.received_total for m in months] == [1, 1, 2]
    assert quarter.received_total == 4 == sum(m.received_total for m in months)
    assert quarter.received_by_channel["cli"] == 4
    assert report(Period.parse("2025-Q2")).received_total == 1
    assert report(Period.parse("2024-Q4")).received_total == 1


def test_it_counts_outcomes_of_requests_decided_in_the_period(operator):
    approved = [make(operator, Category.COPYRIGHT, received="2025-05-20T00:00") for _ in range(2)]
    for request in approved:
        request_approve(request=request, actor=operator)
        place(request, decided_at=at("2025-06-02T00:00"), approved_at=at("2025-06-02T00:00"))
    # Received in May, decided in June: an outcome of June.
    rejected = make(operator, Category.NCII, received="2025-05-30T00:00")
    request_reject(request=rejected, actor=operator, reason="not in the dataset")
    place(rejected, decided_at=at("2025-06-10T00:00"))
    # Decided in July: not June's.
    late = make(operator, Category.COPYRIGHT, received="2025-06-01T00:00")
    request_approve(request=late, actor=operator)
    place(late, decided_at=at("2025-07-01T00:00"), approved_at=at("2025-07-01T00:00"))
    make(operator, Category.COPYRIGHT, received="2025-06-05T00:00")  # undecided

    june = report(Period.parse("2025-06"))
    assert june.outcomes["approved"]["copyright"] == 2
    assert june.outcomes["rejected"]["ncii"] == 1
    assert june.outcome_total("approved") == 2 and june.outcome_total("rejected") == 1
    assert june.decided_total == 3
    assert june.received_total == 2  # received in June: late and the undecided one
    july = report(Period.parse("2025-07"))
    assert (july.outcome_total("approved"), july.outcome_total("rejected")) == (1, 0)


def test_it_counts_requests_sent_back_for_information_once_each(operator):
    request = make(operator, Category.COPYRIGHT)
    request_needs_info(request=request, actor=operator, reason="which work?")
    other = make(operator, Category.PRIVACY)
    request_needs_info(request=other, actor=operator, reason="which image?")
    make(operator, Category.PRIVACY)

    this_month = report(Period.month_of(timezone.now()))
    assert this_month.outcomes["needs_information"]["copyright"] == 1
    assert this_month.outcomes["needs_information"]["privacy"] == 1
    assert this_month.outcome_total("needs_information") == 2
    assert report(Period.month_of(timezone.now()).previous()).outcome_total("needs_information") == 0


def test_it_computes_median_hours_to_decision_and_publication_by_category(operator):
    received = at("2025-08-01T00:00")
    for hours in (2, 4, 10):
        request = make(operator, Category.COPYRIGHT)
        request_approve(request=request, actor=operator)
        place(request, received_at=received, decided_at=received + timedelta(hours=hours),
              approved_at=received + timedelta(hours=hours), published_at=received + timedelta(hours=hours * 2))
    for hours in (1, 3.5):
        request = make(operator, Category.PRIVACY)
        request_reject(request=request, actor=operator, reason="no personal data")
        place(request, received_at=received, decided_at=received + timedelta(hours=hours))

    data = report(Period.parse("2025-08"))
    decision = data.median_hours["decision"]
    assert decision["copyright"] == pytest.approx(4)
    assert decision["privacy"] == pytest.approx(2.25)  # even count: the mean of the middle two
    assert decision[TOTAL] == pytest.approx(3.5)  # 1, 2, 3.5, 4, 10
    assert decision["csam"] is None
    publication = data.median_hours["publication"]
    assert publication["copyright"] == pytest.approx(8)
    assert publication["privacy"] is None
    assert publication[TOTAL] == pytest.approx(8)
    assert report(Period.parse("2025-09")).median_hours["decision"][TOTAL] is None


@pytest.fixture
def keys(release_on_disk):
    return [sample.key for sample in release_on_disk.data.successful()]


def publish(operator, category: str, keys: list[str], *, published: str) -> RemovalRequest:
    request = make(operator, category, keys=tuple(keys))
    request_approve(request=request, actor=operator)
    publish_request(request)
    place(request, published_at=at(published))
    request.refresh_from_db()
    return request


def test_it_counts_distinct_samples_removed_leaving_out_reinstated_ones(release, operator, keys):
    first = publish(operator, Category.COPYRIGHT, keys[0:3], published="2025-10-03T00:00")
    second = publish(operator, Category.PRIVACY, keys[2:4], published="2025-10-20T00:00")  # keys[2] again
    undone = publish(operator, Category.COPYRIGHT, keys[10:12], published="2025-10-21T00:00")
    publish(operator, Category.OTHER, keys[20:21], published="2025-11-02T00:00")  # November

    expected = set(Match.objects.filter(request__in=[first, second]).values_list("release_id", "key"))
    assert len(expected) == 4
    assert report(Period.parse("2025-10")).samples_removed == 6

    notice = legal.counter_notice_record(request=undone, actor=operator, counter_party="Uploader")
    legal.request_reinstate(notice=notice, actor=operator)
    place(undone, reinstated_at=at("2025-10-30T00:00"))
    october = report(Period.parse("2025-10"))
    assert october.samples_removed == len(expected) == 4
    assert october.outcomes["reinstated"]["copyright"] == 1
    assert report(Period.parse("2025-11")).samples_removed == 1
    assert report(Period.parse("2025-Q4")).samples_removed == 5


def test_it_counts_blocklist_versions_and_mirrors_notified_and_acknowledged(release, operator, keys):
    dataset = release.dataset
    up_to_date = mirror_create(name="up-to-date", datasets=[dataset], actor=operator).mirror
    behind = mirror_create(name="behind", datasets=[dataset], actor=operator).mirror
    failing = mirror_create(name="failing", datasets=[dataset], actor=operator).mirror
    silent = mirror_create(name="silent", datasets=[dataset], actor=operator).mirror
    retired = mirror_create(name="retired", datasets=[dataset], actor=operator).mirror
    Mirror.objects.filter(pk=retired.pk).update(active=False)
    other = mirror_create(name="elsewhere", datasets=[], actor=operator).mirror

    publish(operator, Category.COPYRIGHT, keys[0:1], published="2026-01-01T00:00")
    publish(operator, Category.COPYRIGHT, keys[1:2], published="2026-01-01T00:00")
    versions = list(BlocklistVersion.objects.order_by("version"))
    assert [v.version for v in versions] == [1, 2]
    ack_record(mirror=up_to_date, dataset="demo", release=release.name, version=2, status="applied")
    ack_record(mirror=behind, dataset="demo", release=release.name, version=1, status="applied")
    ack_record(mirror=failing, dataset="demo", release=release.name, version=2, status="failed")

    period = Period.month_of(versions[-1].created_at)
    data = report(period)
    assert data.blocklist_versions == 2
    assert data.mirrors_notified == 4  # not the inactive one, nor the one on another dataset
    assert data.mirrors_acknowledged == 1  # applied the period's last version
    assert other.pk and silent.pk

    # A later version applied counts for the earlier ones (blocklists are cumulative).
    ack_record(mirror=behind, dataset="demo", release=release.name, version=2, status="applied")
    assert report(period).mirrors_acknowledged == 2

    # Moved to an earlier month: mirrors that subscribed after it ended were not notified then.
    BlocklistVersion.objects.update(created_at=at("2025-12-10T00:00"))
    december = report(Period.parse("2025-12"))
    assert december.blocklist_versions == 2
    assert (december.mirrors_notified, december.mirrors_acknowledged) == (0, 0)
    Subscription.objects.update(created_at=at("2025-12-01T00:00"))
    december = report(Period.parse("2025-12"))
    assert (december.mirrors_notified, december.mirrors_acknowledged) == (4, 2)
    assert report(Period.parse("2025-11")).mirrors_notified == 0


def test_a_webhook_delivery_counts_as_a_notification(release, operator, keys):
    from apps.mirrors.models import FeedEvent, WebhookDelivery

    hooked = mirror_create(name="hooked", datasets=[release.dataset], webhook_url="https://mirror.example/hook",
                           actor=operator).mirror
    publish(operator, Category.COPYRIGHT, keys[0:1], published="2026-01-01T00:00")
    assert WebhookDelivery.objects.filter(mirror=hooked).count() == 1
    # Subscribed only after the period, yet sent a webhook in it (the delivery is the evidence).
    Subscription.objects.update(created_at=at("2026-02-01T00:00"))
    BlocklistVersion.objects.update(created_at=at("2025-07-31T23:59:59"))
    FeedEvent.objects.update(created_at=at("2025-08-01T00:00:01"))
    assert report(Period.parse("2025-08")).mirrors_notified == 1
    assert report(Period.parse("2025-08")).blocklist_versions == 0
    assert report(Period.parse("2025-07")).mirrors_notified == 0


def test_an_empty_period_is_all_zeros(db):
    data = report(Period.parse("2024-Q2"))
    assert data.received_total == 0 and data.decided_total == 0
    assert data.samples_removed == data.blocklist_versions == data.mirrors_notified == data.mirrors_acknowledged == 0
    assert data.median_hours["decision"][TOTAL] is None
    assert {row[0] for row in data.rows()} >= {"received_by_category", "samples_removed", "mirrors_acknowledged"}


def test_the_number_of_queries_does_not_grow_with_the_data(operator, django_assert_max_num_queries):
    for i in range(30):
        request = make(operator, Category.values[i % len(Category.values)], received="2025-05-10T00:00")
        request_reject(request=request, actor=operator, reason="no")
        place(request, decided_at=at(f"2025-05-{11 + i % 10}T00:00"))
    with django_assert_max_num_queries(30):
        data = report(Period.parse("2025-05"))
    assert data.received_total == 30 and data.outcome_total("rejected") == 30
    assert data.median_hours["decision"][TOTAL] is not None
