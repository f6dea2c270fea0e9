from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Staff accounts: login lockout (django-axes) and two-factor authentication (django-otp)."""

    name = "apps.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from axes.signals import user_locked_out

        from apps.accounts.services import lockout_record

        def _locked_out(sender, request, username, ip_address, **kwargs):
            # Sent again for every try during a lockout: only the try that caused it is recorded.
            if getattr(request, "axes_failures_since_start", None) is not None:
                lockout_record(username=username or "", ip_address=ip_address or "")

        user_locked_out.connect(_locked_out, dispatch_uid="accounts.lockout_record", weak=False)
