"""Two-factor authentication for staff through the real admin login page: enrolment at first login, the code
at every login after, backup codes, verification of a session, and the admin's reset."""
import base64
import re

import pytest
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.audit.models import AuditEvent
from tests.support.accounts import authenticator, code, log_in

pytestmark = pytest.mark.django_db

RIGHT = "correct horse battery"


def _enrol(client, staff) -> list[str]:
    """Log in without a second factor, enrol an authenticator with its first code; returns the backup codes."""
    response = log_in(client, "reviewer", RIGHT, next_url="/admin/removals/removalrequest/")
    assert response.status_code == 302
    page = client.get(response["Location"], follow=True)
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    done = client.post("/account/two-factor/enrol/", {"otp_token": code(device), "next": page.context["next"]})
    assert done.status_code == 200 and "Your authenticator app is set up" in done.content.decode()
    return re.findall(r"<li>([a-z0-9]{8})</li>", done.content.decode())


def test_a_staff_member_without_a_second_factor_is_sent_to_enrol(client, staff):
    response = log_in(client, "reviewer", RIGHT, next_url="/admin/removals/removalrequest/")
    assert response.status_code == 302
    admin = client.get(response["Location"])
    assert admin.status_code == 302 and admin["Location"].startswith("/account/two-factor/enrol/?next=")
    assert client.get("/api/v1/match/preview").status_code == 302  # the session's API access waits too

    page = client.get(admin["Location"])
    html = page.content.decode()
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    secret = base64.b32encode(device.bin_key).decode()
    assert "<svg" in html and " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)) in html

    wrong = client.post("/account/two-factor/enrol/", {"otp_token": "123456", "next": page.context["next"]})
    assert wrong.status_code == 200 and "not the one your authenticator app shows" in wrong.content.decode()
    assert client.get("/admin/").status_code == 302

    right = client.post("/account/two-factor/enrol/", {"otp_token": code(device), "next": page.context["next"]})
    html = right.content.decode()
    assert "Your authenticator app is set up" in html
    assert len(re.findall(r"<li>([a-z0-9]{8})</li>", html)) == StaticToken.objects.filter(device__user=staff).count()
    assert 'href="/admin/removals/removalrequest/"' in html
    assert client.get("/admin/removals/removalrequest/").status_code == 200
    assert AuditEvent.objects.filter(action="user.two_factor_enrolled", actor_label="user:reviewer").exists()


def test_with_an_authenticator_the_login_needs_its_code(client, staff):
    device = authenticator(staff)
    for otp in ("", "000000"):
        response = log_in(client, "reviewer", RIGHT, otp)
        assert response.status_code == 200 and "correct username, password and two-factor code" in \
            response.content.decode()
        assert "_auth_user_id" not in client.session
    device.refresh_from_db()
    device.throttle_reset()  # django-otp makes a wrong code wait a second before the next: not this test's point

    response = log_in(client, "reviewer", RIGHT, code(device))
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_wrong_password_with_a_right_code_is_refused(client, staff):
    device = authenticator(staff)
    response = log_in(client, "reviewer", "wrong horse", code(device))
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_a_backup_code_works_once(client, staff):
    codes = _enrol(client, staff)
    client.post("/admin/logout/")

    assert log_in(client, "reviewer", RIGHT, codes[0]).status_code == 302
    assert client.get("/admin/").status_code == 200
    client.post("/admin/logout/")
    again = log_in(client, "reviewer", RIGHT, codes[0])
    assert again.status_code == 200 and "_auth_user_id" not in client.session
    assert StaticToken.objects.filter(device__user=staff).count() == len(codes) - 1


def test_new_backup_codes_replace_the_old_ones(client, staff):
    old = _enrol(client, staff)
    page = client.post("/account/two-factor/")
    new = re.findall(r"<li>([a-z0-9]{8})</li>", page.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert set(StaticToken.objects.filter(device__user=staff).values_list("token", flat=True)) == set(new)
    assert AuditEvent.objects.filter(action="user.backup_codes_issued").exists()


def test_a_session_without_the_second_factor_is_asked_for_a_code(client, staff, settings):
    device = authenticator(staff)
    settings.STAFF_2FA_REQUIRED = False
    assert log_in(client, "reviewer", RIGHT, code(device)).status_code == 302
    # A session from before two-factor was required (the session holds no verified device).
    session = client.session
    session.pop("otp_device_id")
    session.save()
    settings.STAFF_2FA_REQUIRED = True
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/account/two-factor/verify/")
    device.refresh_from_db()
    assert client.post("/account/two-factor/verify/", {"otp_token": code(device, offset=1), "next": "/admin/"}
                       )["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_an_admin_resets_a_lost_authenticator(client, staff, staff_with):
    authenticator(staff)
    admin = staff_with("boss", "admin")
    client.force_login(admin)
    device = TOTPDevice.objects.get(user=staff)
    page = client.get(f"/admin/accounts/twofactordevice/{device.pk}/change/").content.decode()
    assert "reviewer" in page and base64.b32encode(device.bin_key).decode() not in page and device.key not in page
    response = client.post("/admin/accounts/twofactordevice/", {"action": "reset", "_selected_action": [device.pk]},
                           follow=True)
    assert "Reset two-factor authentication of reviewer." in response.content.decode()
    assert not TOTPDevice.objects.filter(user=staff).exists()
    assert AuditEvent.objects.get(action="user.two_factor_reset").actor_label == "user:boss"

    other = type(client)()
    assert log_in(other, "reviewer", RIGHT).status_code == 302  # and is sent to enrol again
    assert other.get("/admin/")["Location"].startswith("/account/two-factor/enrol/")
