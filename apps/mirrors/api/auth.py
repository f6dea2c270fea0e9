"""Mirror token authentication for the sync API."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.permissions import BasePermission

from apps.mirrors.models import Mirror
from apps.mirrors.services import MIRROR_TOKENS
from apps.tokens.authentication import BearerTokenAuthentication


class MirrorTokenAuthentication(BearerTokenAuthentication):
    kind = MIRROR_TOKENS

    def holders(self):
        return Mirror.objects.filter(active=True)


class IsMirror(BasePermission):
    message = "a mirror token is required (Authorization: Bearer td_mirror_...)"

    def has_permission(self, request, view):
        return isinstance(request.auth, Mirror)


class MirrorTokenScheme(OpenApiAuthenticationExtension):
    target_class = MirrorTokenAuthentication
    name = "mirrorToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "Token printed by create_mirror."}
