"""Staff who have not passed a second factor in this session reach only the pages that let them."""
from urllib.parse import urlencode

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse

from apps.accounts.selectors import has_second_factor


class StaffTwoFactorMiddleware:
    """With STAFF_2FA_REQUIRED, a signed-in staff member whose session is not verified (django-otp) is sent to
    enrol (no second factor yet) or to enter a code (one they have) before any other page, the admin and the
    session-authenticated APIs alike. Token clients of the APIs are not users and are not concerned."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (settings.STAFF_2FA_REQUIRED and user.is_authenticated and user.is_staff and not user.is_verified()
                and not self._open(request.path)):
            target = reverse("accounts:verify" if has_second_factor(user) else "accounts:enrol")
            return redirect(f"{target}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)

    @staticmethod
    def _open(path: str) -> bool:
        return path in (reverse("accounts:enrol"), reverse("accounts:verify"), reverse("admin:logout")) or \
            path.startswith("/" + settings.STATIC_URL.lstrip("/"))
