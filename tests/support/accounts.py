"""Staff second factors in tests: codes computed as an authenticator app would, and sessions marked verified."""
import base64
import time

import pyotp
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice


def authenticator(user) -> TOTPDevice:
    """The user's confirmed authenticator device, made when they have none (as if they had enrolled)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def code(device: TOTPDevice, *, offset: int = 0) -> str:
    """The code the device's app shows now (offset: that many 30-second steps later)."""
    totp = pyotp.TOTP(base64.b32encode(device.bin_key).decode(), digits=device.digits, interval=device.step)
    return totp.at(int(time.time()) + offset * device.step)


def mark_verified(client, user) -> None:
    """Mark a client's signed-in session as having passed the user's second factor."""
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = authenticator(user).persistent_id
    session.save()


def log_in(client, username: str, password: str, otp: str = "", *, ip: str = "127.0.0.1", next_url: str = "/admin/"):
    """POST the admin's real login form, as a browser at `ip` would; returns the response."""
    return client.post("/admin/login/", {"username": username, "password": password, "otp_token": otp,
                                         "next": next_url}, REMOTE_ADDR=ip)


def roles_restore() -> None:
    """Make the role groups again as their migrations did, when a test that commits (transaction=True) flushed
    the database after an earlier one: the migrations' data is not there any more."""
    from importlib import import_module

    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    state = MigrationExecutor(connection).loader.project_state().apps
    import_module("apps.removals.migrations.0004_roles").make_roles(state, None)
    import_module("apps.removals.migrations.0008_audit_readable_by_every_role").grant(state, None)


STAFF_PASSWORD = "correct horse battery"  # the password of staff_with's users


def browser_sign_in(page, base_url: str, user, password: str = STAFF_PASSWORD) -> None:
    """Log in on the admin's real login form in a browser, with the code the user's authenticator shows."""
    page.goto(f"{base_url}/admin/")
    page.fill("#id_username", user.get_username())
    page.fill("#id_password", password)
    page.fill("#id_otp_token", code(authenticator(user)))
    page.click("input[type=submit]")
