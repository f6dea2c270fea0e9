"""Trusted-flagger token authentication for the flagger API."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.permissions import BasePermission

from apps.intake.flaggers import FLAGGER_TOKENS
from apps.intake.models import TrustedFlagger
from apps.tokens.authentication import BearerTokenAuthentication

REQUIRED = "a trusted-flagger token is required (Authorization: Bearer td_flagger_...)"


class FlaggerTokenAuthentication(BearerTokenAuthentication):
    kind = FLAGGER_TOKENS

    def holders(self):
        return TrustedFlagger.objects.filter(active=True)


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
