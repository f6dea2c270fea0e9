"""Lookup in a real browser: a reviewer (without restricted) asks whether a sample is covered."""
import re

import pytest
from playwright.sync_api import expect

from apps.core.identifiers import ParsedIdentifier
from apps.removals.services import request_approve, request_create
from tests.support.accounts import browser_sign_in
from tests.support.removals import publish

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_reviewer_looks_up_a_url_and_sees_it_blocked(page, live_server, release, release_on_disk, operator,
                                                      staff_with):
    sample = release_on_disk.data.successful()[0]
    request = request_create(category="copyright", actor=operator,
                             identifiers=[ParsedIdentifier(2, "url", sample.canonical_url)])
    request_approve(request=request, actor=operator)
    [version] = publish(request)
    reviewer = staff_with("walker", "reviewer")

    browser_sign_in(page, live_server.url, reviewer)
    page.get_by_role("link", name="Lookup").click()

    page.get_by_label("Value to look up").fill("")
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#lookup-error")).to_contain_text("Type a URL, hash, sample key, tracking id or domain")

    page.get_by_label("Value to look up").fill(sample.canonical_url)
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#lookup-readings")).to_contain_text("Looked up as: URL")
    expect(page.locator("#lookup-restricted-note")).to_be_visible()
    expect(page.locator("#lookup-requests")).to_contain_text(request.tracking_id)
    row = page.locator("#lookup-samples tbody tr", has_text=sample.key)
    expect(row).to_contain_text(f"Blocked in {version} (the latest)")
    row.get_by_role("link", name=str(version)).click()
    expect(page).to_have_url(re.compile(rf"/admin/blocklists/blocklistversion/{version.pk}/change/$"))
