"""The Overview in a real browser: a reviewer lands on it, follows the overdue request, opens a heat map."""
import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from apps.core.identifiers import ParsedIdentifier
from apps.datasets.selectors import release_samples
from apps.removals.models import RemovalRequest
from apps.removals.services import request_approve, request_create
from tests.support.accounts import browser_sign_in
from tests.support.removals import publish

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_lands_on_the_overview_follows_the_overdue_request_and_opens_a_heat_map(
        page, live_server, release, operator, staff_with):
    sample = release_samples(release=release, limit=1)[0]
    removal = request_create(category="copyright", actor=operator,
                             identifiers=[ParsedIdentifier(2, "key", sample["key"])])
    request_approve(request=removal, actor=operator)
    publish(removal)
    late = request_create(category="csam", actor=operator, source="hotline:SECRET-SOURCE",
                          identifiers=[ParsedIdentifier(2, "url", "https://late.example/a.jpg")])
    RemovalRequest.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(hours=2))
    reviewer = staff_with("walker", "reviewer")

    browser_sign_in(page, live_server.url, reviewer)

    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.get_by_role("heading", name=re.compile("Open requests by time left"))).to_be_visible()
    expect(page.locator(".background-warning").first).to_contain_text("No worker is running")
    row = page.locator("#overview-urgent tbody tr", has_text=late.tracking_id)
    expect(row).to_have_class("overdue")
    expect(row.locator("td").last).to_contain_text("overdue by 2.0 h")
    expect(row.locator("td").last).to_have_css("color", "rgb(186, 33, 33)")
    expect(row).to_contain_text("restricted")  # a reviewer without restricted sees the clock, not the source
    expect(page.locator("#overview")).not_to_contain_text("SECRET-SOURCE")
    expect(page.locator("#chart-received")).to_be_visible()

    row.get_by_role("link", name=late.tracking_id).click()
    expect(page).to_have_url(re.compile(rf"/admin/removals/removalrequest/{late.pk}/change/$"))

    page.go_back()
    page.get_by_role("link", name=f"Heat map of {release}").click()
    expect(page).to_have_url(re.compile(rf"/admin/datasets/release/{release.pk}/heatmap/$"))
    cell = page.locator(f'#heatmap rect[data-shard="{sample["shard"]}"]')
    expect(cell).to_have_attribute("data-removed", "1")
    expect(cell.locator("title")).to_have_text(re.compile(rf"^{sample['shard']}: 1 removed of \d+ samples$"))
    expect(page.locator("#heatmap-summary")).to_contain_text("1 sample removed in 1 of 3 shards")
