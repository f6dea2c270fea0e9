"""Host staff working the queue in a real browser."""
import re

import pytest
from playwright.sync_api import expect

from apps.core.identifiers import ParsedIdentifier
from apps.matching.services import request_match
from apps.removals.models import RemovalRequest, Status
from apps.removals.services import request_create
from tests.support.accounts import authenticator, code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def signed_in(page, live_server, staff):
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "reviewer")
    page.fill("#id_password", "correct horse battery")
    page.fill("#id_otp_token", code(authenticator(staff)))
    page.click("input[type=submit]")
    expect(page.get_by_role("link", name="Removal requests")).to_be_visible()
    return page


def test_a_reviewer_finds_a_request_reviews_its_matches_and_approves_it(
        signed_in, live_server, release, release_on_disk, operator):
    page = signed_in
    samples = release_on_disk.data.successful()
    csam = request_create(category="csam", source="hotline:NCMEC", reference="CT-1", actor=operator, identifiers=[
        ParsedIdentifier(2, "sha256", samples[3].sha256), ParsedIdentifier(3, "key", samples[40].key)])
    request_match(request=csam)
    request_create(category="opt_out", source="web", actor=operator,
                   identifiers=[ParsedIdentifier(2, "url", "https://artist.example/work.png")])

    page.get_by_role("link", name="Removal requests").click()
    page.get_by_role("link", name="Child sexual abuse material").click()  # the category filter
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link", name=csam.tracking_id).click()

    matches = page.locator("#matches")
    expect(matches.get_by_role("heading", name=re.compile(r"Matches by release and shard \(2\)"))).to_be_visible()
    expect(matches.get_by_role("heading", name="demo/2026-11 — 2 samples")).to_be_visible()
    expect(matches.locator("tr.match-row")).to_have_count(2)
    expect(matches).to_contain_text(samples[40].key)

    page.get_by_role("button", name="Approve and publish").click()
    expect(page.locator(".messagelist:not(#background-banner)")).to_contain_text(f"Approved {csam.tracking_id}")
    expect(page.get_by_role("button", name="Approve and publish")).to_have_count(0)
    csam.refresh_from_db()
    assert csam.status == Status.APPROVED


def test_staff_log_a_request_and_see_bad_lines_named(signed_in, live_server, release):
    page = signed_in
    page.goto(f"{live_server.url}/admin/removals/removalrequest/add/")
    page.select_option("#id_category", "privacy")
    page.fill("#id_source", "email")
    page.fill("#id_identifiers_csv", "kind,value\nurl,https://e.com/me.jpg\nmd5,nothex\n")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".errorlist")).to_contain_text("line 3: md5 'nothex' is not hexadecimal")
    assert not RemovalRequest.objects.exists()

    page.fill("#id_identifiers_csv", "kind,value\nurl,https://e.com/me.jpg\n")
    page.get_by_role("button", name="Save", exact=True).click()
    request = RemovalRequest.objects.get()
    expect(page.locator(".messagelist:not(#background-banner)")).to_contain_text(request.tracking_id)
