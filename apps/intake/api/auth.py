"""Trusted-flagger token authentication for the flagger API."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from apps.intake.flaggers import flagger_authenticate
from apps.intake.models import TrustedFlagger

REQUIRED = "a trusted-flagger token is required (Authorization: Bearer td_flagger_...)"


class FlaggerPrincipal:
    """request.user for a flagger: authenticated, but never staff."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, flagger: TrustedFlagger):
        self.flagger = flagger

    def __str__(self) -> str:
        return f"flagger:{self.flagger.name}"


class FlaggerTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Authorization header must be 'Bearer <flagger token>'")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("flagger token must be ASCII") from None
        flagger = flagger_authenticate(token=token)
        if flagger is None:
            raise AuthenticationFailed("unknown or revoked flagger token")
        return FlaggerPrincipal(flagger), flagger

    def authenticate_header(self, request):
        return 'Bearer realm="flagger"'


class IsFlagger(BasePermission):
    message = REQUIRED

    def has_permission(self, request, view):
        return isinstance(request.auth, TrustedFlagger)


class FlaggerTokenScheme(OpenApiAuthenticationExtension):
    target_class = FlaggerTokenAuthentication
    name = "flaggerToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer",
                "description": "Token printed by create_flagger (or shown once in the admin)."}
