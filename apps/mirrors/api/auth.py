"""Mirror token authentication for the sync API."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.permissions import BasePermission

from apps.core.api.tokens import BearerTokenAuthentication
from apps.mirrors.models import Mirror
from apps.mirrors.services import mirror_authenticate


class MirrorTokenAuthentication(BearerTokenAuthentication):
    kind = "mirror"

    def lookup(self, token: str) -> Mirror | None:
        return mirror_authenticate(token=token)


class IsMirror(BasePermission):
    message = "a mirror token is required (Authorization: Bearer td_mirror_...)"

    def has_permission(self, request, view):
        return isinstance(request.auth, Mirror)


class MirrorTokenScheme(OpenApiAuthenticationExtension):
    target_class = MirrorTokenAuthentication
    name = "mirrorToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Token printed by create_mirror."}
