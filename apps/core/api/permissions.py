"""API permissions by staff role (apps.core.roles): a staff flag alone opens nothing."""
from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission
from rest_framework.views import APIView

from apps.core import roles


def role_required(role: str) -> type[BasePermission]:
    """A permission class letting through users who hold `role` (or a role that includes it)."""

    class HasRole(BasePermission):
        message = f"only staff with the {role} role may use this endpoint"

        def has_permission(self, request, view):
            return roles.has_role(request.user, role)

    HasRole.__name__ = f"Has{role.title()}Role"
    return HasRole


class TokenOnlyView(APIView):
    """An API opened only by its own kind of token (mirror, flagger): a staff session is not one.

    A request without that token gets 401 with the permission's message, which
    names the token expected, rather than DRF's generic one.
    """

    def permission_denied(self, request, message=None, code=None):
        if request.authenticators and not request.successful_authenticator:
            raise NotAuthenticated(message)
        super().permission_denied(request, message, code)
