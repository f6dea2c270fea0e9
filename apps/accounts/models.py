"""The accounts pages of the admin show django-axes' and django-otp's records under "Accounts" (proxies: no
tables of their own)."""
from axes.models import AccessAttempt, AccessLog
from django_otp.plugins.otp_totp.models import TOTPDevice


class LoginLockout(AccessAttempt):
    """Failed logins of one username from one address; LOGIN_FAILURE_LIMIT of them lock that pair."""

    class Meta:
        proxy = True
        verbose_name = "login lockout"
        verbose_name_plural = "login lockouts"


class LoginRecord(AccessLog):
    """A successful login (and its logout)."""

    class Meta:
        proxy = True
        verbose_name = "login"
        verbose_name_plural = "login history"


class TwoFactorDevice(TOTPDevice):
    """A staff member's authenticator app."""

    class Meta:
        proxy = True
        verbose_name = "two-factor device"
        verbose_name_plural = "two-factor devices"
