"""A staff member's first login and the next ones in a real browser (Chromium): enrolling an authenticator
from the page's secret, backup codes, then the login with a code, under the Content-Security-Policy."""
import time

import pyotp
import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _csp_violations(page) -> list[str]:
    seen = []
    page.on("console", lambda message: seen.append(message.text) if "Content Security Policy" in message.text
            else None)
    return seen


def _log_in(page, live_server, otp: str = ""):
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", "reviewer")
    page.fill("#id_password", "correct horse battery")
    page.fill("#id_otp_token", otp)
    page.click("input[type=submit]")


def test_a_staff_member_enrols_at_first_login_and_then_logs_in_with_a_code(page, live_server, staff):
    violations = _csp_violations(page)
    _log_in(page, live_server)
    expect(page.get_by_text("Staff accounts need a second factor")).to_be_visible()
    expect(page.locator("#qr svg")).to_be_visible()
    totp = pyotp.TOTP(page.locator("#secret").inner_text().replace(" ", ""))

    page.fill("#id_otp_token", "000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.locator(".errorlist")).to_contain_text("not the one your authenticator app shows")

    page.fill("#id_otp_token", totp.now())
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    expect(page.get_by_text("Your authenticator app is set up")).to_be_visible()
    codes = page.locator("#backup-codes li").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("link", name="I have kept them: continue").click()
    expect(page.get_by_role("link", name="Removal requests")).to_be_visible()
    page.goto(f"{live_server.url}/admin/removals/removalrequest/add/")
    expect(page.locator("#id_category")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    _log_in(page, live_server, otp="")  # the password alone no longer does
    expect(page.locator(".errornote")).to_contain_text("correct username, password and two-factor code")
    TOTPDevice.objects.filter(user=staff).update(throttling_failure_count=0)  # no 1 s wait after that miss
    # The next 30-second step's code: the one used to enrol cannot be used twice.
    _log_in(page, live_server, otp=totp.at(time.time() + 30))
    expect(page.get_by_role("link", name="Removal requests")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    _log_in(page, live_server, otp=codes[0])
    expect(page.get_by_role("link", name="Removal requests")).to_be_visible()
    assert violations == []
