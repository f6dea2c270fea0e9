"""Trusted flaggers: their tokens, and the bulk requests they submit over the API."""
import hashlib
import secrets
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.core.locks import serialize
from apps.intake.models import TrustedFlagger
from apps.removals.models import Category, Channel, HotlineReport, Policy, RemovalRequest, Status
from apps.removals.parsing import ParsedIdentifier

TOKEN_PREFIX = "td_flagger_"
# Per request, whether sent as JSON or CSV.
MAX_IDENTIFIERS = 100_000


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _prefix(token: str) -> str:
    return token[: len(TOKEN_PREFIX) + 4]


def flagger_actor(flagger: TrustedFlagger) -> Actor:
    """Who a flagger's submissions are recorded as, in the audit trail and on approvals."""
    return Actor(label=f"flagger:{flagger.name}")


def flagger_create(*, name: str, kind: str, contact_email: str = "", actor: Actor) -> tuple[TrustedFlagger, str]:
    """Register a trusted flagger; returns it and its API token (shown once, stored as a hash)."""
    name = name.strip()
    if not name:
        raise TakedownError("a trusted flagger needs a name")
    if len(name) > TrustedFlagger._meta.get_field("name").max_length:
        raise TakedownError(f"flagger name {name[:40]!r}... is longer than 200 characters")
    if kind not in TrustedFlagger.Kind.values:
        raise TakedownError(f"unknown flagger kind {kind!r} (expected one of: {', '.join(TrustedFlagger.Kind.values)})")
    contact_email = contact_email.strip()
    if contact_email:
        try:
            validate_email(contact_email)
        except ValidationError:
            raise TakedownError(f"contact email {contact_email!r} is not an email address") from None
    if TrustedFlagger.objects.filter(name__iexact=name).exists():
        raise TakedownError(f"a trusted flagger named {name!r} already exists")
    token = _new_token()
    with transaction.atomic():
        flagger = TrustedFlagger.objects.create(
            name=name, kind=kind, contact_email=contact_email, token_hash=token_digest(token),
            token_prefix=_prefix(token),
        )
        audit_record(actor=actor, action="flagger.token_issued", obj=flagger, after={
            "kind": kind, "contact_email": contact_email, "token_prefix": flagger.token_prefix,
        })
    return flagger, token


def flagger_rotate_token(*, flagger: TrustedFlagger, actor: Actor) -> str:
    """Issue a new token; the old one stops working at once. A revoked flagger is reinstated with it."""
    token = _new_token()
    with transaction.atomic():
        flagger = TrustedFlagger.objects.select_for_update().get(pk=flagger.pk)
        reinstated = not flagger.active
        flagger.token_hash, flagger.token_prefix, flagger.active = token_digest(token), _prefix(token), True
        flagger.save(update_fields=["token_hash", "token_prefix", "active"])
        audit_record(actor=actor, action="flagger.token_issued", obj=flagger, after={
            "token_prefix": flagger.token_prefix, "rotated": True, **({"reinstated": True} if reinstated else {}),
        })
    return token


def flagger_revoke(*, flagger: TrustedFlagger, actor: Actor) -> TrustedFlagger:
    """Stop a flagger's token working (its requests stay). Revoking twice changes nothing."""
    with transaction.atomic():
        flagger = TrustedFlagger.objects.select_for_update().get(pk=flagger.pk)
        if flagger.active:
            flagger.active = False
            flagger.save(update_fields=["active"])
            audit_record(actor=actor, action="flagger.revoked", obj=flagger, before={"active": True},
                         after={"active": False, "token_prefix": flagger.token_prefix})
    return flagger


def flagger_authenticate(*, token: str) -> TrustedFlagger | None:
    """The active flagger holding this token, or None; records when it was last seen."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    flagger = TrustedFlagger.objects.filter(token_hash=token_digest(token), active=True).first()
    if flagger is not None:
        now = timezone.now()
        if flagger.last_seen_at is None or (now - flagger.last_seen_at).total_seconds() > 60:
            TrustedFlagger.objects.filter(pk=flagger.pk).update(last_seen_at=now)
    return flagger


class Submission(NamedTuple):
    """What flagger_submit did: the request, whether it was created now, and whether a repeat matched it."""

    request: RemovalRequest
    created: bool
    identical: bool


def _same(request: RemovalRequest, category: str, identifiers: list[ParsedIdentifier]) -> bool:
    if request.category != category:
        return False
    stored = set(request.identifiers.values_list("kind", "value"))
    return stored == {(i.kind, i.value) for i in identifiers}


def _check_hotline(category: str, hotline: dict | None) -> None:
    if not hotline:
        return
    if category != Category.CSAM:
        raise TakedownError(f"hotline: only csam requests carry a hotline report (this one is {category})")
    if hotline.get("hotline") not in HotlineReport.Hotline.values:
        raise TakedownError(f"hotline: unknown hotline {hotline.get('hotline')!r} "
                            f"(expected one of: {', '.join(HotlineReport.Hotline.values)})")
    if not str(hotline.get("report_id") or "").strip():
        raise TakedownError("hotline: a hotline report needs its report id")
    if hotline["hotline"] == HotlineReport.Hotline.OTHER and not str(hotline.get("hotline_name") or "").strip():
        raise TakedownError("hotline: name the hotline (hotline_name) when it is 'other'")


def _hotline_report(hotline: dict | None) -> dict | None:
    if not hotline:
        return None
    return {"hotline": hotline["hotline"], "report_id": str(hotline["report_id"]),
            "reported_at": hotline.get("reported_at"), "hotline_name": hotline.get("hotline_name") or ""}


def flagger_submit(*, flagger: TrustedFlagger, category: str, reference: str, identifiers: list[ParsedIdentifier],
                   hotline: dict | None = None, notes: str = "") -> Submission:
    """Log a flagger's request, once per reference.

    The same reference again returns the request already logged (nothing new is
    written); `identical` says whether this submission's category and identifiers
    are the ones it holds. A new request is matched by a worker once committed;
    a csam request from a hotline is approved on receipt when the review policy
    says so (Policy.csam_approve_from_hotlines), and published by a worker.
    `hotline` (csam only): hotline, report_id, reported_at, hotline_name.
    """
    from apps.removals.services import Intake, request_approve_later, request_create
    from apps.removals.tasks import request_match_task

    reference = reference.strip()
    if not reference:
        raise TakedownError("reference: your own reference for the request is required (it makes resubmitting safe)")
    if len(reference) > RemovalRequest._meta.get_field("reference").max_length:
        raise TakedownError("reference: at most 200 characters")
    if category not in Category.values:
        raise TakedownError(f"category: unknown category {category!r} (expected one of: {', '.join(Category.values)})")
    if len(identifiers) > MAX_IDENTIFIERS:
        raise TakedownError(f"too many identifiers: {len(identifiers):,} (at most {MAX_IDENTIFIERS:,} per request; "
                            "split the list)")
    _check_hotline(category, hotline)
    actor = flagger_actor(flagger)
    with transaction.atomic():
        # One submission per flagger at a time, so a reference sent twice at once is logged once.
        serialize(f"flagger-submit:{flagger.pk}")
        existing = RemovalRequest.objects.filter(flagger=flagger, reference=reference).order_by("id").first()
        if existing is not None:
            return Submission(existing, False, _same(existing, category, identifiers))
        request = request_create(
            category=category, identifiers=identifiers, actor=actor, source=flagger.name, reference=reference,
            notes=notes, intake=Intake(channel=Channel.FLAGGER_API, flagger=flagger),
            hotline=_hotline_report(hotline),
        )
        if (category == Category.CSAM and flagger.kind == TrustedFlagger.Kind.HOTLINE
                and Policy.current().csam_approve_from_hotlines):
            # Publication matches the request too: no separate matching run.
            request = request_approve_later(request=request, actor=actor)
        if request.status != Status.APPROVED:
            transaction.on_commit(lambda pk=request.pk: request_match_task.delay(pk))
    return Submission(request, True, True)
