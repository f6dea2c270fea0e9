"""Login lockout through the real admin login page: failures per username and address, the lockout page,
unlocking by an admin or by waiting, and the audit trail."""
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessLog
from django.utils import timezone

from apps.audit.models import AuditEvent
from tests.support.accounts import authenticator, code, log_in

pytestmark = pytest.mark.django_db

RIGHT, WRONG = "correct horse battery", "wrong horse"


def _fail(client, times: int, *, ip: str = "10.0.0.1", username: str = "reviewer"):
    """Wrong passwords: refused with the form's message, and the fifth with the lockout page."""
    for attempt in range(1, times + 1):
        response = log_in(client, username, WRONG, ip=ip)
        if attempt < 5:
            assert response.status_code == 200 and "correct username, password" in response.content.decode()
        else:
            assert response.status_code == 429


def test_it_locks_the_username_at_that_address_after_five_failures(client, staff, settings):
    settings.STAFF_2FA_REQUIRED = False  # the password alone, here
    _fail(client, 4)
    assert log_in(client, "reviewer", RIGHT, ip="10.0.0.1").status_code == 302  # four failures: not yet
    client.logout()
    _fail(client, 5)

    response = log_in(client, "reviewer", RIGHT, ip="10.0.0.1")
    page = response.content.decode()
    assert response.status_code == 429 and response["Retry-After"] == "900"
    assert "Too many failed logins for this account from your address" in page and "15 minutes" in page
    assert "Traceback" not in page and "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # not logged in

    # Another address, or another account from this address, is not affected.
    assert log_in(client, "reviewer", RIGHT, ip="10.0.0.2").status_code == 302


def test_the_lockout_is_audited_once_and_visible_in_the_admin(client, staff, staff_with):
    _fail(client, 7)
    [event] = AuditEvent.objects.filter(action="user.locked_out")
    assert (event.actor_label, event.object_id, event.after) == (
        "system", str(staff.pk), {"username": "reviewer", "ip_address": "10.0.0.1"})

    admin = staff_with("boss", "admin")
    client.force_login(admin)
    page = client.get("/admin/accounts/loginlockout/").content.decode()
    assert "reviewer" in page and "10.0.0.1" in page


def test_an_admin_unlocks_it_and_the_right_password_then_works(client, staff, staff_with, settings):
    settings.STAFF_2FA_REQUIRED = False
    _fail(client, 5)
    assert log_in(client, "reviewer", RIGHT, ip="10.0.0.1").status_code == 429

    admin_client = type(client)()
    admin_client.force_login(staff_with("boss", "admin"))
    attempt = AccessAttempt.objects.get(username="reviewer")
    response = admin_client.post("/admin/accounts/loginlockout/", {
        "action": "unlock", "_selected_action": [attempt.pk]}, follow=True)
    assert "Unlocked 1 login(s)." in response.content.decode()
    event = AuditEvent.objects.get(action="user.unlocked")
    assert (event.actor_label, event.after["username"], event.before) == ("user:boss", "reviewer", {"failures": 5})

    assert log_in(client, "reviewer", RIGHT, ip="10.0.0.1").status_code == 302


def test_staff_without_the_admin_role_cannot_unlock(client, staff, staff_with):
    _fail(client, 5)
    reviewer = type(client)()
    reviewer.force_login(staff_with("colleague", "reviewer"))
    attempt = AccessAttempt.objects.get(username="reviewer")
    response = reviewer.post("/admin/accounts/loginlockout/", {"action": "unlock", "_selected_action": [attempt.pk]})
    assert response.status_code in (200, 302, 403)
    assert AccessAttempt.objects.filter(pk=attempt.pk).exists()
    assert not AuditEvent.objects.filter(action="user.unlocked").exists()


def test_the_lockout_ends_after_the_cool_off(client, staff, settings):
    settings.STAFF_2FA_REQUIRED = False
    _fail(client, 5)
    assert log_in(client, "reviewer", RIGHT, ip="10.0.0.1").status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert log_in(client, "reviewer", RIGHT, ip="10.0.0.1").status_code == 302


def test_wrong_two_factor_codes_count_towards_the_lockout(client, staff):
    device = authenticator(staff)
    for _ in range(5):
        response = log_in(client, "reviewer", RIGHT, "000000", ip="10.0.0.1")
        assert response.status_code in (200, 429)
    response = log_in(client, "reviewer", RIGHT, code(device), ip="10.0.0.1")
    assert response.status_code == 429 and "_auth_user_id" not in client.session


def test_a_login_without_a_client_address_is_recorded_without_one(client, staff, settings):
    """No REMOTE_ADDR (a unix socket) or a forwarded value that is no address: stored as none, not a 500
    (PostgreSQL's inet column refuses anything else)."""
    settings.STAFF_2FA_REQUIRED, settings.TRUSTED_PROXIES = False, 1
    response = client.post("/admin/login/", {"username": "reviewer", "password": RIGHT, "next": "/admin/"},
                           HTTP_X_FORWARDED_FOR="not-an-address")
    assert response.status_code == 302
    assert AccessLog.objects.get().ip_address is None
    response = client.post("/admin/login/", {"username": "reviewer", "password": WRONG}, REMOTE_ADDR="")
    assert response.status_code == 200
