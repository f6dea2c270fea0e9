"""Bearer tokens for the machine clients of the API (mirrors, trusted flaggers).

Each kind subclasses BearerTokenAuthentication with its TokenKind and the
holders it looks in; the authenticated principal is never staff, so a token
opens only its own API.

Guessing is throttled per client IP: after TOKEN_AUTH_FAILURES wrong or
malformed tokens within TOKEN_AUTH_WINDOW_SECONDS, every bearer token from that
address (a right one too, or a guess would still be told apart) is answered 429
with Retry-After until the window ends. A right token costs one cache read more.
"""
from django.conf import settings
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, Throttled

from apps.core import ratelimit
from apps.tokens.services import TokenKind, token_holder

_SCOPE = "token-auth-failures"


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
        limits = {"scope": _SCOPE, "ip": ratelimit.client_ip(request), "limit": settings.TOKEN_AUTH_FAILURES,
                  "window_seconds": settings.TOKEN_AUTH_WINDOW_SECONDS}
        verdict = ratelimit.check(**limits)
        if not verdict.allowed:
            raise Throttled(wait=verdict.retry_after, detail=(
                f"too many failed token logins from this address: try again in {verdict.retry_after} s"))
        try:
            return self._authenticate(parts)
        except AuthenticationFailed:
            ratelimit.hit(**limits)
            raise

    def _authenticate(self, parts: list[bytes]):
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
