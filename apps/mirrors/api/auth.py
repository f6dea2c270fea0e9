"""Mirror token authentication for the sync API."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from apps.mirrors.models import Mirror
from apps.mirrors.services import mirror_authenticate


class MirrorPrincipal:
    """request.user for a mirror: authenticated, but never staff."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, mirror: Mirror):
        self.mirror = mirror

    def __str__(self) -> str:
        return f"mirror:{self.mirror.name}"


class MirrorTokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Authorization header must be 'Bearer <mirror token>'")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed("mirror token must be ASCII") from None
        mirror = mirror_authenticate(token=token)
        if mirror is None:
            raise AuthenticationFailed("unknown or revoked mirror token")
        return MirrorPrincipal(mirror), mirror

    def authenticate_header(self, request):
        return 'Bearer realm="mirror"'


class IsMirror(BasePermission):
    message = "a mirror token is required (Authorization: Bearer td_mirror_...)"

    def has_permission(self, request, view):
        return isinstance(request.auth, Mirror)


class MirrorTokenScheme(OpenApiAuthenticationExtension):
    target_class = MirrorTokenAuthentication
    name = "mirrorToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Token printed by create_mirror."}
