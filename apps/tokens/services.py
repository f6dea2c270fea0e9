"""API tokens: one lifecycle and one set of rules for every holder.

- A token is shown once; only its SHA-256 digest (a fast hash: tokens are
  long and random, unlike passwords) and its first characters are kept.
- Staff need the admin role to issue, rotate or revoke one; operators at the
  command line and the system act with the host's own authority.
- Revoking is final: a revoked holder is never given a token again (register
  a new one), and its stored digest is replaced so no old token can match.
- Every issue, rotation and revocation is in the audit trail.
"""
import hashlib
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core import roles
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.tokens.models import TokenHolder

# Last use is written at most this often: every API call reading it, writing it each time would cost a write.
_SEEN_EVERY_SECONDS = 60


@dataclass(frozen=True)
class TokenKind:
    """A kind of token holder: its name in messages and the audit trail, and its tokens' prefix."""

    name: str
    prefix: str

    def new(self) -> tuple[str, dict]:
        """A new token, and the fields a holder stores for it."""
        token = self.prefix + secrets.token_urlsafe(32)
        return token, {"token_hash": token_digest(token), "token_prefix": token[: len(self.prefix) + 4]}


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _require_admin(actor: Actor, doing: str) -> None:
    if actor.user is not None:
        roles.require_role(actor.user, roles.ADMIN, doing)


def token_issue_check(*, kind: TokenKind, actor: Actor) -> None:
    """Refuse a staff member without the admin role before a new holder is registered."""
    _require_admin(actor, f"register a {kind.name}")


def token_rotate(*, holder: TokenHolder, kind: TokenKind, actor: Actor) -> str:
    """Issue a new token for a holder; the old one stops working at once. Refused for a revoked holder."""
    _require_admin(actor, f"rotate a {kind.name}'s token")
    token, fields = kind.new()
    with transaction.atomic():
        holder = type(holder).objects.select_for_update().get(pk=holder.pk)
        if holder.revoked_at is not None:
            raise TakedownError(f"{kind.name} {holder!s:.80} was revoked: it cannot get a new token "
                                f"(register a new {kind.name})")
        type(holder).objects.filter(pk=holder.pk).update(**fields)
        audit_record(actor=actor, action=f"{kind.name}.token_issued", obj=holder,
                     after={"token_prefix": fields["token_prefix"], "rotated": True})
    return token


def token_revoke(*, holder: TokenHolder, kind: TokenKind, actor: Actor, reason: str = "", **changes) -> bool:
    """Revoke a holder's token for good, with any other `changes` to the holder in the same transaction;
    audited. False when it was revoked already."""
    _require_admin(actor, f"revoke a {kind.name}")
    now = timezone.now()
    with transaction.atomic():
        holder = type(holder).objects.select_for_update().get(pk=holder.pk)
        if holder.revoked_at is not None:
            return False
        # Nothing can turn the old token back on: only its digest was kept, and that is now a random one.
        type(holder).objects.filter(pk=holder.pk).update(
            revoked_at=now, token_hash=token_digest(secrets.token_urlsafe(32)), **changes)
        audit_record(actor=actor, action=f"{kind.name}.revoked", obj=holder, before={"revoked": False},
                     after={"revoked": True, "token_prefix": holder.token_prefix, **({"reason": reason} if reason
                                                                                      else {})})
    return True


def token_holder(*, queryset, kind: TokenKind, token: str):
    """The holder in `queryset` of this token, unless revoked; None otherwise. Records when it was last seen."""
    if not token.startswith(kind.prefix):
        return None
    holder = queryset.filter(token_hash=token_digest(token), revoked_at=None).first()
    if holder is not None:
        now = timezone.now()
        if holder.last_seen_at is None or (now - holder.last_seen_at).total_seconds() > _SEEN_EVERY_SECONDS:
            type(holder).objects.filter(pk=holder.pk).update(last_seen_at=now)
    return holder
