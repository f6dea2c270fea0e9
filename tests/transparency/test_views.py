"""The public page and the CSV export: no login, clear errors, counts and nothing that identifies."""
import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from apps.blocklists.models import BlocklistVersion
from apps.core.categories import Category
from apps.core.identifiers import ParsedIdentifier
from apps.mirrors.services import ack_record, mirror_create
from apps.removals.models import Channel, HotlineReport, RemovalRequest
from apps.removals.services import Intake, request_approve, request_create, request_reject
from apps.transparency.selectors import Period
from tests.support.removals import publish

pytestmark = pytest.mark.django_db

PAGE = "/transparency/"
CSV = "/transparency/report.csv"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def march(release, release_on_disk, operator):
    """March 2025: requests with requester data, identifiers of every kind, one published, a mirror that applied it."""
    samples = release_on_disk.data.successful()
    secrets = {
        "names": ["Alice Quietperson", "Bob Hiddenname"],
        "emails": ["alice.quiet@example.org", "bob.hidden@example.net"],
        "references": ["DMCA-REF-778899", "CASE-445566"],
        "sources": ["Hotline Secret Desk"],
        "identifiers": [samples[0].key, samples[1].key, samples[2].url, samples[2].md5, samples[3].sha256],
        "tracking_ids": [],
        "report_ids": ["NCMEC-TIP-99887766"],
        "mirrors": ["lab-copy-zeta"],
    }
    lab = mirror_create(name="lab-copy-zeta", datasets=[release.dataset], contact_email="ops@lab-zeta.example",
                        actor=operator).mirror
    published = request_create(
        category=Category.COPYRIGHT, actor=operator, source="Hotline Secret Desk", reference="DMCA-REF-778899",
        identifiers=[ParsedIdentifier(2, "key", samples[0].key), ParsedIdentifier(3, "key", samples[1].key)],
        intake=Intake(channel=Channel.WEB_FORM, requester_name="Alice Quietperson",
                      requester_email="alice.quiet@example.org", requester_details={"phone": "+44 20 7946 0999"}),
    )
    request_approve(request=published, actor=operator)
    publish(published)
    ack_record(mirror=lab, dataset=release.dataset.name, release=release.name, version=1, status="applied")
    rejected = request_create(
        category=Category.CSAM, actor=operator, reference="CASE-445566",
        identifiers=[ParsedIdentifier(2, "url", samples[2].url), ParsedIdentifier(3, "md5", samples[2].md5),
                     ParsedIdentifier(4, "sha256", samples[3].sha256)],
        intake=Intake(channel=Channel.FLAGGER_API, requester_name="Bob Hiddenname",
                      requester_email="bob.hidden@example.net"),
        hotline={"hotline": HotlineReport.Hotline.NCMEC, "report_id": "NCMEC-TIP-99887766"},
    )
    request_reject(request=rejected, actor=operator, reason="already removed")
    received = at("2025-03-03T09:00")
    RemovalRequest.objects.filter(pk=published.pk).update(
        received_at=received, decided_at=received + timedelta(hours=5), approved_at=received + timedelta(hours=5),
        published_at=received + timedelta(hours=6))
    RemovalRequest.objects.filter(pk=rejected.pk).update(
        received_at=received, decided_at=received + timedelta(hours=30))
    BlocklistVersion.objects.update(created_at=at("2025-03-03T15:00"))
    from apps.mirrors.models import Subscription

    Subscription.objects.update(created_at=at("2025-01-01T00:00"))
    secrets["tracking_ids"] = [published.tracking_id, rejected.tracking_id]
    return secrets


def test_the_page_is_public_and_opens_on_the_month_under_way(client, db):
    response = client.get(PAGE)
    assert response.status_code == 200
    current = Period.month_of(timezone.now())
    page = response.content.decode()
    assert f"Transparency report: {current.label}" in page
    assert "still in progress" in page
    assert f'href="?period={current.as_quarter()}"' in page
    assert f'href="?period={current.previous()}"' in page
    assert 'rel="next"' not in page  # the month after has not started
    # The month before is complete, and a click away.
    complete = client.get(PAGE, {"period": str(current.previous())}).content.decode()
    assert f"Transparency report: {current.previous().label}" in complete and "still in progress" not in complete


def test_the_page_shows_counts_a_chart_and_tables(client, march):
    response = client.get(PAGE, {"period": "2025-03"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Transparency report: March 2025" in page
    assert page.count("<svg") == 2
    assert re.search(r'<svg[^>]*role="img"[^>]*aria-labelledby="received-chart-title received-chart-desc"', page)
    assert '<title id="received-chart-title">Requests received by category, March 2025</title>' in page
    assert "Copyright: 1; Privacy (GDPR erasure): 0" in page  # the chart's text description
    assert "<table>" in page and '<th scope="row">Child sexual abuse material</th><td class="n">1</td>' in page
    assert '<th scope="row">Public web form</th><td class="n">1</td>' in page
    assert '<th scope="row">Trusted-flagger API</th><td class="n">1</td>' in page
    assert "<strong>2</strong> requests received" in page
    assert "<strong>2</strong> requests decided" in page
    assert "<strong>2</strong> samples removed" in page
    assert "<strong>1</strong> blocklist versions published" in page
    assert "<strong>1</strong> mirrors notified" in page
    assert "<strong>1</strong> mirrors acknowledged" in page
    # Medians: copyright decided after 5 hours and published after 6; csam rejected after 30.
    assert re.search(r"Copyright</th><td class=\"n\">5\.0</td><td class=\"n\">6\.0</td>", page)
    assert re.search(r"Child sexual abuse material</th><td class=\"n\">30\.0</td><td class=\"n\"><span", page)
    assert "no data" in page
    # Self-contained: no scripts, no external assets.
    assert "<script" not in page and "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page


def test_the_quarter_page_adds_up_its_months(client, march):
    page = client.get(PAGE, {"period": "2025-Q1"}).content.decode()
    assert "Transparency report: Q1 2025 (January to March)" in page
    assert "<strong>2</strong> requests received" in page
    assert 'href="?period=2025-03">By month (March 2025)' in page
    assert "<strong>0</strong> requests received" in client.get(PAGE, {"period": "2025-Q2"}).content.decode()


def test_nothing_that_identifies_is_published(client, march):
    page = client.get(PAGE, {"period": "2025-03"}).content.decode()
    exported = client.get(CSV, {"period": "2025-03"}).content.decode()
    for kind, values in march.items():
        for value in values:
            assert value and value not in page, (kind, value)
            assert value not in exported, (kind, value)
    for text in (page, exported):
        assert "TD-" not in text
        assert "+44" not in text


@pytest.mark.parametrize("period", ["2025-13", "2025-Q5", "march", "2025-3", "1969-12", "2025-03-01", "x" * 500])
def test_a_bad_period_is_a_clear_400(client, db, period):
    response = client.get(PAGE, {"period": period})
    assert response.status_code == 400
    page = response.content.decode()
    assert "This period cannot be shown" in page
    assert "YYYY-MM" in page and "YYYY-Qn" in page
    assert "x" * 100 not in page  # long input is cut short
    exported = client.get(CSV, {"period": period})
    assert exported.status_code == 400
    assert exported["Content-Type"].startswith("text/plain")
    assert "YYYY-MM" in exported.content.decode()


def test_a_period_that_has_not_started_is_a_400(client, db):
    future = Period.month_of(timezone.now()).next()
    response = client.get(PAGE, {"period": str(future)})
    assert response.status_code == 400
    assert "has not started yet" in response.content.decode()
    assert client.get(CSV, {"period": str(future.as_quarter().next())}).status_code == 400


def test_only_reading_is_allowed(client, db):
    assert client.post(PAGE).status_code == 405
    assert client.post(CSV).status_code == 405
    assert client.head(PAGE).status_code == 200


def _rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_csv_export_is_tidy_one_row_per_figure(client, march):
    response = client.get(CSV, {"period": "2025-03"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="takedown-transparency-2025-03.csv"'
    assert response.content.decode().splitlines()[0] == "period,section,group,value"
    rows = _rows(response)
    assert {row["period"] for row in rows} == {"2025-03"}
    values = {(row["section"], row["group"]): row["value"] for row in rows}
    assert len(values) == len(rows)  # no figure twice
    assert values[("received_by_category", "copyright")] == "1"
    assert values[("received_by_category", "csam")] == "1"
    assert values[("received_by_category", "ncii")] == "0"
    assert values[("received_by_category", "total")] == "2"
    assert values[("received_by_channel", "web_form")] == "1"
    assert values[("received_by_channel", "flagger_api")] == "1"
    assert values[("received_by_channel", "total")] == "2"
    assert values[("outcome_approved", "copyright")] == "1"
    assert values[("outcome_rejected", "csam")] == "1"
    assert values[("outcome_needs_information", "total")] == "0"
    assert values[("outcome_reinstated", "total")] == "0"
    assert values[("median_hours_to_decision", "copyright")] == "5.0"
    assert values[("median_hours_to_decision", "csam")] == "30.0"
    assert values[("median_hours_to_decision", "total")] == "17.5"
    assert values[("median_hours_to_publication", "copyright")] == "6.0"
    assert values[("median_hours_to_publication", "csam")] == ""  # no data
    assert values[("samples_removed", "total")] == "2"
    assert values[("blocklist_versions_published", "total")] == "1"
    assert values[("mirrors_notified", "total")] == "1"
    assert values[("mirrors_acknowledged", "total")] == "1"
    # Every category and channel is there, even at zero, so periods line up.
    assert {g for s, g in values if s == "received_by_category"} == {c for c in Category.values} | {"total"}
    assert {g for s, g in values if s == "received_by_channel"} == {c for c in Channel.values} | {"total"}


def test_the_csv_of_a_quarter_and_the_default_period(client, march):
    quarter = client.get(CSV, {"period": "2025-q1"})
    assert quarter["Content-Disposition"] == 'attachment; filename="takedown-transparency-2025-Q1.csv"'
    values = {(r["section"], r["group"]): r["value"] for r in _rows(quarter)}
    assert values[("received_by_category", "total")] == "2"
    default = client.get(CSV)
    latest = Period.month_of(timezone.now()).previous()
    assert default["Content-Disposition"] == f'attachment; filename="takedown-transparency-{latest}.csv"'
    assert {r["period"] for r in _rows(default)} == {str(latest)}
