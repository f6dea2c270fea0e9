"""Two-factor pages of a signed-in staff member (enrol, verify, backup codes) and the lockout page."""
import base64

import django_otp
import segno
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import admin
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.accounts.forms import EnrolForm, VerifyForm
from apps.accounts.selectors import backup_codes_left, has_second_factor
from apps.accounts.services import backup_codes_issue, totp_confirm, totp_pending
from apps.core.actors import Actor
from apps.core.errors import TakedownError


def _page(request, template: str, context: dict, status: int = 200):
    return render(request, template, {**admin.site.each_context(request), **context}, status=status)


def _next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return target
    return reverse("admin:index")


def _staff_only(view):
    """Signed-in staff only (the admin's login page otherwise); nothing here is cached."""
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    wrapper.__doc__ = view.__doc__
    return login_required(never_cache(sensitive_post_parameters("otp_token")(require_http_methods(
        ["GET", "POST"])(wrapper))))


@_staff_only
def enrol(request):
    """Set up an authenticator app: its QR code and secret, confirmed with a first code; then backup codes."""
    user = request.user
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return redirect(_next(request) if user.is_verified() else "accounts:verify")
    device = totp_pending(user=user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = totp_confirm(user=user, code=form.cleaned_data["otp_token"],
                                         backup_codes=settings.STAFF_BACKUP_CODES)
        except TakedownError as exc:
            form.add_error("otp_token", exc.message)
        else:
            django_otp.login(request, device)
            return _page(request, "accounts/backup_codes.html", {
                "title": "Two-factor authentication is on", "codes": codes, "next": _next(request),
                "enrolled": True})
    secret = base64.b32encode(device.bin_key).decode()
    return _page(request, "accounts/enrol.html", {
        "title": "Set up two-factor authentication", "form": form, "next": _next(request),
        "qr": mark_safe(segno.make(device.config_url, error="m").svg_inline(scale=4, dark="#1d2330")),
        "secret": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)), "config_url": device.config_url,
    })


@_staff_only
def verify(request):
    """Enter a second-factor code for this session (for a session signed in without one)."""
    user = request.user
    if user.is_verified():
        return redirect(_next(request))
    if not has_second_factor(user):
        return redirect("accounts:enrol")
    form = VerifyForm(request.POST or None, user=user, request=request)
    if request.method == "POST":
        if form.is_valid():
            django_otp.login(request, form.device)
            return redirect(_next(request))
        if getattr(request, "axes_locked_out", False):
            logout(request)  # the lockout page follows (django-axes' middleware)
    return _page(request, "accounts/verify.html", {"title": "Two-factor code", "form": form, "next": _next(request)})


@_staff_only
def two_factor(request):
    """The member's second factors, and a new set of backup codes on request."""
    if request.method == "POST":
        codes = backup_codes_issue(user=request.user, actor=Actor.for_user(request.user),
                                   count=settings.STAFF_BACKUP_CODES)
        return _page(request, "accounts/backup_codes.html", {"title": "New backup codes", "codes": codes,
                                                             "next": reverse("admin:index")})
    return _page(request, "accounts/two_factor.html", {
        "title": "Two-factor authentication",
        "authenticator": TOTPDevice.objects.filter(user=request.user, confirmed=True).first(),
        "backup_codes_left": backup_codes_left(request.user),
    })


def locked_out(request, original_response=None, credentials=None):
    """django-axes' lockout response (AXES_LOCKOUT_CALLABLE): a clear page, 429 with Retry-After."""
    minutes = max(1, round(get_cool_off(request).total_seconds() / 60))
    response = _page(request, "accounts/locked_out.html", {"title": "Too many failed logins", "minutes": minutes},
                     status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
