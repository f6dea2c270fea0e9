"""Staff accounts: second factors (an authenticator app, backup codes) and login lockouts, every change audited.

A staff member has at most one confirmed authenticator (TOTP) device and one set of
backup codes (a static device: each code works once). Enrolment makes an
unconfirmed device, shows its secret, and confirms it with a code from the app.
"""
from django.contrib.auth import get_user_model
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.audit.services import audit_record
from apps.core import roles
from apps.core.actors import Actor
from apps.core.errors import TakedownError

AUTHENTICATOR = "Authenticator app"
BACKUP_CODES = "Backup codes"


def totp_pending(*, user) -> TOTPDevice:
    """The user's authenticator device waiting to be confirmed: made once and kept until it is, so reloading the
    enrolment page shows the same secret."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=AUTHENTICATOR, confirmed=False)


def totp_confirm(*, user, code: str, backup_codes: int) -> tuple[TOTPDevice, list[str]]:
    """Confirm the user's pending authenticator with a code it shows; returns it and a first set of backup codes.

    Refused when the user already has one (a second device needs the first one's code: an admin resets it)."""
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        raise TakedownError("two-factor authentication is already set up for this account")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    if device is not None:
        # The page shows this device's secret: making a mistyped first code wait for the next protects nothing.
        device.throttle_reset(commit=False)
    if device is None or not device.verify_token(_digits(code)):
        raise TakedownError("that code is not the one your authenticator app shows now: check the app's clock "
                            "and enter the newest 6-digit code")
    with transaction.atomic():
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        codes = _backup_codes_replace(user, count=backup_codes)
        audit_record(actor=Actor.for_user(user), action="user.two_factor_enrolled", obj=user,
                     after={"device": AUTHENTICATOR, "backup_codes": len(codes)})
    device.confirmed = True
    return device, codes


def two_factor_provision(*, user, actor: Actor, backup_codes: int) -> tuple[TOTPDevice, list[str]]:
    """Give a user a new confirmed authenticator and backup codes at once, replacing any they had: for an
    operator handing the secret over outside the product (the demo does). Audited."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name=AUTHENTICATOR, confirmed=True)
        codes = _backup_codes_replace(user, count=backup_codes)
        audit_record(actor=actor, action="user.two_factor_provisioned", obj=user,
                     after={"device": AUTHENTICATOR, "backup_codes": len(codes)})
    return device, codes


def backup_codes_issue(*, user, actor: Actor, count: int) -> list[str]:
    """A new set of backup codes for the user, shown once; the old set stops working. Audited."""
    with transaction.atomic():
        codes = _backup_codes_replace(user, count=count)
        audit_record(actor=actor, action="user.backup_codes_issued", obj=user, after={"backup_codes": len(codes)})
    return codes


def two_factor_reset(*, user, actor: Actor) -> int:
    """Remove every second factor of a user (a lost phone): they enrol again at their next login. Admin role
    needed; audited. Returns how many devices were removed."""
    roles.require_role(actor.user, roles.ADMIN, "reset another member's two-factor authentication")
    with transaction.atomic():
        removed = TOTPDevice.objects.filter(user=user).delete()[1].get(TOTPDevice._meta.label, 0)
        removed += StaticDevice.objects.filter(user=user).delete()[1].get(StaticDevice._meta.label, 0)
        audit_record(actor=actor, action="user.two_factor_reset", obj=user, after={"devices_removed": removed})
    return removed


def lockout_record(*, username: str, ip_address: str) -> None:
    """Audit that failed logins locked a username at an address (the username as typed: maybe no account)."""
    user = get_user_model().objects.filter(username=username).first()
    audit_record(actor=Actor.system(), action="user.locked_out", obj=user,
                 after={"username": username[:150], "ip_address": ip_address})


def lockout_clear(*, attempts, actor: Actor) -> int:
    """Unlock: forget the failed logins of these attempt records (username + address). Admin role needed;
    audited for each. Returns how many were cleared."""
    roles.require_role(actor.user, roles.ADMIN, "unlock a login")
    cleared = 0
    with transaction.atomic():
        for attempt in attempts:
            audit_record(actor=actor, action="user.unlocked", obj=get_user_model().objects.filter(
                username=attempt.username).first(), before={"failures": attempt.failures_since_start},
                after={"username": attempt.username, "ip_address": attempt.ip_address})
            attempt.delete()
            cleared += 1
    return cleared


def _digits(code: str) -> str:
    return "".join(code.split())


def _backup_codes_replace(user, *, count: int) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(user=user, name=BACKUP_CODES, defaults={"confirmed": True})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(count)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes
