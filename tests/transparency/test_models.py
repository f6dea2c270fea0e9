"""The transparency report's models notified and answered: per period, on the page and in the CSV."""
import csv
import io
from datetime import UTC, datetime

import pytest

from apps.advisories.models import Advisory
from apps.advisories.services import model_register
from apps.datasets.selectors import release_samples
from apps.transparency.selectors import TOTAL, Period, report
from tests.advisories.support import other_release, remove

pytestmark = pytest.mark.django_db


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def advised(release, release_on_disk, operator):
    """Three models advised by two removals, then the advisories placed: two models in March 2025 (one answered
    one of its two, one answered its only one), one in April; a fourth model, on another release, never advised."""
    keys = [s["key"] for s in release_samples(release=release, limit=10)]
    for name in ("alpha", "beta", "gamma"):
        model_register(name=name, trained_on=[release], actor=operator)
    model_register(name="delta", trained_on=[other_release(release_on_disk, operator)], actor=operator)
    remove(operator, release, keys[:2])
    remove(operator, release, keys[2:4], category="ncii")
    assert Advisory.objects.count() == 6  # two versions x three models
    first, second = (Advisory.objects.filter(blocklist__version=v) for v in (1, 2))
    first.update(created_at=at("2025-03-05T00:00"))
    second.filter(model__name__in=["alpha", "beta"]).update(created_at=at("2025-03-31T23:59"))
    second.filter(model__name="gamma").update(created_at=at("2025-04-01T00:00"))
    Advisory.objects.filter(model__name="beta").update(status=Advisory.Status.NOT_AFFECTED)
    Advisory.objects.filter(model__name="alpha", blocklist__version=1).update(status=Advisory.Status.FIXED)
    Advisory.objects.filter(model__name="gamma", blocklist__version=2).update(status=Advisory.Status.DEPRECATED)


def test_it_counts_models_notified_and_those_that_answered_every_advisory_of_the_period(advised):
    march = report(Period.parse("2025-03"))
    assert (march.models_notified, march.models_answered) == (3, 1)  # alpha, beta, gamma; only beta answered all
    april = report(Period.parse("2025-04"))
    assert (april.models_notified, april.models_answered) == (1, 1)  # gamma, deprecated
    assert (report(Period.parse("2025-Q1")).models_notified, report(Period.parse("2025-02")).models_notified) == (3, 0)
    rows = {(section, group): value for section, group, value in march.rows()}
    assert rows[("models_notified", TOTAL)] == 3 and rows[("models_answered", TOTAL)] == 1


def test_the_page_and_the_csv_show_them(client, advised):
    page = " ".join(client.get("/transparency/?period=2025-03").content.decode().split())
    assert "<strong>3</strong> models notified" in page and "<strong>1</strong> models answered" in page
    assert 'Models notified (advisories sent to their owners)</th><td class="n">3</td>' in page
    assert 'href="/advisories/"' in page

    response = client.get("/transparency/report.csv?period=2025-04")
    values = {(row["section"], row["group"]): row["value"]
              for row in csv.DictReader(io.StringIO(response.content.decode()))}
    assert values[("models_notified", "total")] == "1" and values[("models_answered", "total")] == "1"
