"""Reading staff accounts' second factors."""
import math

import django_otp
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken


def has_second_factor(user) -> bool:
    """Whether the user has a confirmed second factor (an authenticator app or backup codes)."""
    return django_otp.user_has_device(user, confirmed=True)


def device_for_code(*, user, code: str):
    """The user's confirmed device that accepts this code (a backup code is used up), or None. Each device
    throttles wrong codes on its own (django-otp), on top of the login lockout."""
    code = "".join(code.split())
    if not code:
        return None
    for device in django_otp.devices_for_user(user, confirmed=True):
        verified = django_otp.verify_token(user, device.persistent_id, code)
        if verified is not None:
            return verified
    return None


def backup_codes_left(user) -> int:
    """How many unused backup codes the user has."""
    return StaticToken.objects.filter(device__in=StaticDevice.objects.filter(user=user, confirmed=True)).count()


def code_wait_seconds(user) -> int:
    """Seconds before the user's devices take another code: each wrong one doubles the wait (1 s, 2 s, 4 s, ...)."""
    now, wait = timezone.now(), 0.0
    for device in django_otp.devices_for_user(user, confirmed=True):
        allowed, data = device.verify_is_allowed()
        if not allowed and data and data.get("locked_until"):
            wait = max(wait, (data["locked_until"] - now).total_seconds())
    return math.ceil(wait)
