"""Bearer tokens for the machine clients of the API (mirrors, trusted flaggers).

Each kind subclasses BearerTokenAuthentication with its TokenKind and the
holders it looks in; the authenticated principal is never staff, so a token
opens only its own API.
"""
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from apps.tokens.services import TokenKind, token_holder


class TokenPrincipal:
    """request.user for a token holder: authenticated, but never staff."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, kind: str, holder):
        self.kind, self.holder = kind, holder

    def __str__(self) -> str:
        return f"{self.kind}:{self.holder.name}"


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <token>`; subclasses set `kind` and `holders()` (the queryset a holder is in)."""

    kind: TokenKind

    def holders(self):
        raise NotImplementedError

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        name = self.kind.name
        if len(parts) != 2:
            raise AuthenticationFailed(f"Authorization header must be 'Bearer <{name} token>'")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed(f"{name} token must be ASCII") from None
        holder = token_holder(queryset=self.holders(), kind=self.kind, token=token)
        if holder is None:
            raise AuthenticationFailed(f"unknown or revoked {name} token")
        return TokenPrincipal(name, holder), holder

    def authenticate_header(self, request):
        return f'Bearer realm="{self.kind.name}"'
