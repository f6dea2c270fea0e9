"""The admin login with a second factor, and the forms of the enrolment and verification pages."""
from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError

from apps.accounts.selectors import code_wait_seconds, device_for_code, has_second_factor

_CODE_HELP = "The 6-digit code your authenticator app shows, or one of your backup codes."


def _code_field(required: bool) -> forms.CharField:
    return forms.CharField(label="Two-factor code", required=required, max_length=32, help_text=_CODE_HELP,
                           widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric",
                                                         "autocapitalize": "none", "spellcheck": "false"}))


def _failed(form, user) -> str:
    """Count a wrong code as a failed login for django-axes (codes are not guessed faster than passwords); what
    to add to the error: the wait the devices now impose before the next code."""
    user_login_failed.send(sender=type(form), credentials={"username": user.get_username()}, request=form.request)
    wait = code_wait_seconds(user)
    return f" After a wrong code, wait {wait} second{'s' if wait != 1 else ''} before the next one." if wait else ""


class AdminLoginForm(AdminAuthenticationForm):
    """Username, password and, once the account has a second factor, its code. A staff member with none yet is
    let in and sent to enrol (apps.accounts.middleware)."""

    otp_token = _code_field(required=False)
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Please enter the correct username, password and two-factor code. Note that the "
                         "username and password may be case-sensitive.",
    }

    def clean(self):
        cleaned = super().clean()  # the password (django-axes counts and locks), then staff status
        user = self.get_user()
        if user is None or not has_second_factor(user):
            return cleaned
        device = device_for_code(user=user, code=cleaned.get("otp_token", ""))
        if device is None:
            wait = _failed(self, user)
            self.user_cache = None
            raise ValidationError(self.error_messages["invalid_login"] + wait, code="invalid_login",
                                  params={"username": self.username_field.verbose_name})
        user.otp_device = device  # django_otp marks the session verified when the user is logged in
        return cleaned


class EnrolForm(forms.Form):
    """The first code from the authenticator app being set up (apps.accounts.services.totp_confirm checks it)."""

    otp_token = _code_field(required=True)


class VerifyForm(forms.Form):
    """A code from any of the user's second factors, for a session that has not passed one."""

    otp_token = _code_field(required=True)

    def __init__(self, *args, user, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.user, self.request, self.device = user, request, None

    def clean_otp_token(self):
        code = self.cleaned_data["otp_token"]
        self.device = device_for_code(user=self.user, code=code)
        if self.device is None:
            raise ValidationError("That code is not right: enter the newest code your app shows, or an unused "
                                  "backup code." + _failed(self, self.user))
        return code
