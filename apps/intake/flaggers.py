"""Trusted flaggers: their tokens, and the bulk requests they submit over the API."""
from typing import NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction

from apps.audit.services import audit_record
from apps.core.actors import Actor
from apps.core.categories import Category
from apps.core.errors import TakedownError
from apps.core.identifiers import ParsedIdentifier
from apps.core.locks import serialize
from apps.intake.models import TrustedFlagger
from apps.removals.models import Channel, HotlineReport, Policy, RemovalRequest
from apps.removals.policy import identifiers_check
from apps.removals.selectors import scope_find
from apps.removals.services import Intake, request_approve, request_create
from apps.tokens.services import TokenKind, token_holder, token_issue_check, token_revoke, token_rotate

FLAGGER_TOKENS = TokenKind(name="flagger", prefix="td_flagger_")
# Per request, whether sent as JSON or CSV.
MAX_IDENTIFIERS = 100_000


def flagger_actor(flagger: TrustedFlagger) -> Actor:
    """Who a flagger's submissions are recorded as, in the audit trail and on approvals."""
    return Actor(label=f"flagger:{flagger.name}")


def _checked(kind: str, contact_email: str) -> str:
    """A flagger's kind and contact address as given, refused with the reason when wrong; the address stripped."""
    if kind not in TrustedFlagger.Kind.values:
        raise TakedownError(f"unknown flagger kind {kind!r} (expected one of: {', '.join(TrustedFlagger.Kind.values)})")
    contact_email = contact_email.strip()
    if contact_email:
        try:
            validate_email(contact_email)
        except ValidationError:
            raise TakedownError(f"contact email {contact_email!r} is not an email address") from None
    return contact_email


def flagger_create(*, name: str, kind: str, contact_email: str = "", actor: Actor) -> tuple[TrustedFlagger, str]:
    """Register a trusted flagger; returns it and its API token (shown once, stored as a hash)."""
    token_issue_check(kind=FLAGGER_TOKENS, actor=actor)
    name = name.strip()
    if not name:
        raise TakedownError("a trusted flagger needs a name")
    if len(name) > TrustedFlagger._meta.get_field("name").max_length:
        raise TakedownError(f"flagger name {name[:40]!r}... is longer than 200 characters")
    contact_email = _checked(kind, contact_email)
    if TrustedFlagger.objects.filter(name__iexact=name).exists():
        raise TakedownError(f"a trusted flagger named {name!r} already exists")
    token, fields = FLAGGER_TOKENS.new()
    with transaction.atomic():
        flagger = TrustedFlagger.objects.create(name=name, kind=kind, contact_email=contact_email, **fields)
        audit_record(actor=actor, action="flagger.token_issued", obj=flagger, after={
            "kind": kind, "contact_email": contact_email, "token_prefix": flagger.token_prefix,
        })
    return flagger, token


# flagger_update: leave a flood limit as it is.
KEEP = object()


def _flood_checked(flood_max_samples, flood_max_share) -> None:
    if flood_max_samples not in (KEEP, None) and (not isinstance(flood_max_samples, int) or flood_max_samples < 1):
        raise TakedownError(f"flood_max_samples: {flood_max_samples!r} is not a whole number of at least 1 "
                            "(blank: the FLOOD_MAX_SAMPLES setting)")
    if flood_max_share not in (KEEP, None) and (not isinstance(flood_max_share, int | float)
                                                or not 0 < flood_max_share <= 100):
        raise TakedownError(f"flood_max_share: {flood_max_share!r} is not a percentage above 0 and at most 100 "
                            "(blank: the FLOOD_MAX_SHARE setting)")


def flagger_update(*, flagger: TrustedFlagger, kind: str, contact_email: str, actor: Actor,
                   flood_max_samples: int | None = KEEP, flood_max_share: float | None = KEEP) -> TrustedFlagger:
    """Change a flagger's kind (a hotline's csam is approved on receipt: staff need the admin role), contact
    address or flood limits (None: the settings; KEEP, the default: unchanged); audited field by field."""
    token_issue_check(kind=FLAGGER_TOKENS, actor=actor)
    contact_email = _checked(kind, contact_email)
    _flood_checked(flood_max_samples, flood_max_share)
    with transaction.atomic():
        flagger = TrustedFlagger.objects.select_for_update().get(pk=flagger.pk)
        before = {"kind": flagger.kind, "contact_email": flagger.contact_email,
                  "flood_max_samples": flagger.flood_max_samples, "flood_max_share": flagger.flood_max_share}
        after = {"kind": kind, "contact_email": contact_email,
                 "flood_max_samples": flagger.flood_max_samples if flood_max_samples is KEEP else flood_max_samples,
                 "flood_max_share": flagger.flood_max_share if flood_max_share is KEEP else flood_max_share}
        changed = {name: value for name, value in after.items() if before[name] != value}
        if changed:
            TrustedFlagger.objects.filter(pk=flagger.pk).update(**changed)
            audit_record(actor=actor, action="flagger.changed", obj=flagger,
                         before={name: before[name] for name in changed}, after=changed)
            flagger.refresh_from_db()
    return flagger


def flagger_rotate_token(*, flagger: TrustedFlagger, actor: Actor) -> str:
    """Issue a new token; the old one stops working at once (apps.tokens' rules: never for a revoked flagger)."""
    return token_rotate(holder=flagger, kind=FLAGGER_TOKENS, actor=actor)


def flagger_revoke(*, flagger: TrustedFlagger, actor: Actor) -> TrustedFlagger:
    """Stop a flagger's token working, for good (its requests stay). Revoking twice changes nothing."""
    token_revoke(holder=flagger, kind=FLAGGER_TOKENS, actor=actor, active=False)
    flagger.refresh_from_db()
    return flagger


def flagger_authenticate(*, token: str) -> TrustedFlagger | None:
    """The active flagger holding this token, or None; records when it was last seen."""
    return token_holder(queryset=TrustedFlagger.objects.filter(active=True), kind=FLAGGER_TOKENS, token=token)


class Submission(NamedTuple):
    """What flagger_submit did: the request, whether it was created now, and whether a repeat matched it."""

    request: RemovalRequest
    created: bool
    identical: bool


def _same(request: RemovalRequest, category: str, identifiers: list[ParsedIdentifier], scope: tuple) -> bool:
    if request.category != category or (request.dataset_id, request.release_id) != scope:
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
                   hotline: dict | None = None, notes: str = "", dataset: str = "", release: str = "") -> Submission:
    """Log a flagger's request, once per reference.

    The same reference again returns the request already logged (nothing new is
    written); `identical` says whether this submission's category, scope and identifiers
    are the ones it holds. A new request is matched by a worker once committed;
    a csam request from a hotline is approved on receipt when the review policy
    says so (Policy.csam_approve_from_hotlines), and then published by a worker.
    `hotline` (csam only): hotline, report_id, reported_at, hotline_name.
    `dataset` and `release` (names) limit it to that dataset (and release);
    key identifiers need one (apps.removals.policy.identifiers_check).
    """
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
    scope_dataset, scope_release = scope_find(dataset=dataset, release=release)
    identifiers_check(identifiers=identifiers, category=category, channel=Channel.FLAGGER_API, dataset=scope_dataset)
    actor = flagger_actor(flagger)
    with transaction.atomic():
        # One submission per flagger at a time, so a reference sent twice at once is logged once.
        serialize(f"flagger-submit:{flagger.pk}")
        existing = RemovalRequest.objects.filter(flagger=flagger, reference=reference).order_by("id").first()
        if existing is not None:
            scope = (scope_dataset and scope_dataset.pk, scope_release and scope_release.pk)
            return Submission(existing, False, _same(existing, category, identifiers, scope))
        request = request_create(
            category=category, identifiers=identifiers, actor=actor, source=flagger.name, reference=reference,
            notes=notes, intake=Intake(channel=Channel.FLAGGER_API, flagger=flagger),
            hotline=_hotline_report(hotline), dataset=scope_dataset, release=scope_release,
        )
        if (category == Category.CSAM and flagger.kind == TrustedFlagger.Kind.HOTLINE
                and Policy.current().csam_approve_from_hotlines):
            request = request_approve(request=request, actor=actor, automatic=True)
    return Submission(request, True, True)
