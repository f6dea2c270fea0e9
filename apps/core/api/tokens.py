"""Bearer tokens for the machine clients of the API (mirrors, trusted flaggers).

Each kind subclasses BearerTokenAuthentication with its name and a lookup; the
authenticated principal is never staff, so a token opens only its own API.
"""
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed


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
    """`Authorization: Bearer <token>`; subclasses set `kind` and implement `lookup(token)` (None: refused)."""

    kind = ""

    def lookup(self, token: str):
        raise NotImplementedError

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(f"Authorization header must be 'Bearer <{self.kind} token>'")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise AuthenticationFailed(f"{self.kind} token must be ASCII") from None
        holder = self.lookup(token)
        if holder is None:
            raise AuthenticationFailed(f"unknown or revoked {self.kind} token")
        return TokenPrincipal(self.kind, holder), holder

    def authenticate_header(self, request):
        return f'Bearer realm="{self.kind}"'
