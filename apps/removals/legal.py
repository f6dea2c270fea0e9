"""Category duties: DMCA notices and counter-notices, GDPR extensions and recipients, opt-out proofs.

Services like those in services.py, kept apart because each follows a law:
17 USC 512 (copyright), GDPR Art. 12, 17 and 19 (privacy), and the host's own
opt-out policy.
"""
import secrets
from datetime import date, datetime, timedelta

import httpx
from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core import net, roles, validation
from apps.core.actors import Actor
from apps.core.categories import Category
from apps.core.errors import TakedownError
from apps.removals.models import (
    CounterNotice,
    DmcaNotice,
    DomainClaim,
    ErasureExtension,
    Policy,
    RemovalRequest,
    Status,
)
from apps.removals.policy import within
from apps.removals.services import (
    _check_actor,
    notify_requester,
    request_approve,
    request_needs_info,
    request_transition,
)

# 512(g)(2)(C): restore "not less than 10, nor more than 14, business days" after the counter-notice.
RESTORE_AFTER_BUSINESS_DAYS = (10, 14)
# GDPR Art. 12(3): one month to answer, extendable by two further months.
ERASURE_EXTENSION_MONTHS = 2


def add_business_days(start: date, days: int) -> date:
    """The date `days` working days (Monday to Friday) after `start`."""
    current = start
    while days:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


# ---------------------------------------------------------------- copyright


def dmca_notice_record(*, request: RemovalRequest, actor: Actor, signature: str = "", copyrighted_work: str = "",
                       infringing_material: str = "", contact: str = "", good_faith: bool = False,
                       accurate_under_penalty: bool = False) -> DmcaNotice:
    """Record a DMCA notice, checked for the six elements of 17 USC 512(c)(3)(A).

    One missing any element sends an open request back as needing information;
    a complete one (recorded later, or corrected) moves a request waiting for it
    back to triage. Staff need the intake role (and restricted, never needed here).
    """
    _check_actor(actor, roles.INTAKE, "record DMCA notices", request)
    if request.category != Category.COPYRIGHT:
        raise TakedownError("only copyright requests carry a DMCA notice")
    with transaction.atomic():
        notice, _ = DmcaNotice.objects.update_or_create(request=request, defaults={
            "signature": signature.strip()[:300], "copyrighted_work": copyrighted_work.strip(),
            "infringing_material": infringing_material.strip(), "contact": contact.strip(),
            "good_faith": bool(good_faith), "accurate_under_penalty": bool(accurate_under_penalty),
        })
        missing = notice.missing()
        audit_record(actor=actor, action="request.dmca_checked", obj=request,
                     after={"complete": not missing, "missing": missing})
        request.refresh_from_db()
        if missing and request.status in (Status.RECEIVED, Status.TRIAGE):
            request_needs_info(request=request, actor=Actor.system(), reason=(
                "The notice does not meet 17 USC 512(c)(3)(A). It lacks: " + "; ".join(missing) + "."))
        elif not missing and request.status == Status.NEEDS_INFO:
            request_transition(request=request, to=Status.TRIAGE, actor=Actor.system(),
                               reason="The DMCA notice is now complete.")
    return notice


def counter_notice_record(*, request: RemovalRequest, actor: Actor, counter_party: str, statement: str = "",
                          received_at: datetime | None = None) -> CounterNotice:
    """Record a 512(g) counter-notice; the removal is undone 10 to 14 business days later unless a lawsuit comes."""
    _check_actor(actor, roles.LEGAL, "record counter-notices", request)
    request.refresh_from_db()
    if request.category != Category.COPYRIGHT:
        raise TakedownError("only copyright removals take a counter-notice")
    if request.status not in (Status.PUBLISHED, Status.COMPLETED):
        raise TakedownError(f"{request.tracking_id} is {request.get_status_display().lower()}: "
                            "a counter-notice answers a removal that was published")
    if not counter_party.strip():
        raise TakedownError("a counter-notice names who sent it")
    received_at = validation.sane_moment(received_at, field="received_at") or timezone.now()
    start = timezone.localdate(received_at)
    with transaction.atomic():
        notice = CounterNotice.objects.create(
            request=request, received_at=received_at, counter_party=counter_party.strip()[:300],
            statement=statement, restore_not_before=add_business_days(start, RESTORE_AFTER_BUSINESS_DAYS[0]),
            restore_by=add_business_days(start, RESTORE_AFTER_BUSINESS_DAYS[1]),
        )
        audit_record(actor=actor, action="request.counter_notice", obj=request, after={
            "counter_party": notice.counter_party, "restore_not_before": notice.restore_not_before,
            "restore_by": notice.restore_by,
        })
    notify_requester(request, f"Counter-notice received for {request.tracking_id}", (
        f"{notice.counter_party} sent a counter-notice. Unless you tell us that you have filed an action "
        f"seeking a court order, the material will be restored between {notice.restore_not_before} and "
        f"{notice.restore_by}.\n"))
    return notice


def lawsuit_record(*, notice: CounterNotice, actor: Actor, reference: str) -> CounterNotice:
    """Record that the complainant went to court: the removal stays."""
    _check_actor(actor, roles.LEGAL, "record lawsuits", notice.request)
    if notice.restored_at is not None:
        raise TakedownError("the material was already restored")
    with transaction.atomic():
        notice.lawsuit_at, notice.lawsuit_reference = timezone.now(), reference.strip()[:300]
        notice.save(update_fields=["lawsuit_at", "lawsuit_reference"])
        audit_record(actor=actor, action="request.lawsuit_recorded", obj=notice.request,
                     after={"reference": notice.lawsuit_reference})
    return notice


def request_reinstate(*, notice: CounterNotice, actor: Actor) -> RemovalRequest:
    """Undo a removal after a counter-notice: request.reinstated makes the next blocklist versions un-block
    its samples."""
    with transaction.atomic():
        request = request_transition(request=notice.request, to=Status.REINSTATED, actor=actor, role=roles.LEGAL,
                                     reason=f"counter-notice from {notice.counter_party}; no lawsuit in time")
        now = timezone.now()
        RemovalRequest.objects.filter(pk=request.pk).update(reinstated_at=now)
        notice.restored_at = now
        notice.save(update_fields=["restored_at"])
    notify_requester(request, f"Material restored for {request.tracking_id}", (
        "After a counter-notice, and with no lawsuit filed in time, the material was restored.\n"))
    return request


def request_reinstate_now(*, request: RemovalRequest, actor: Actor, reason: str) -> RemovalRequest:
    """Undo a published (or completed) removal now, on a legal decision, without waiting for a counter-notice
    clock: request.reinstated makes the next blocklist version of every release it hit un-block its samples,
    and mirrors are told of that version as of any other. Legal role (and restricted for ncii); audited with
    the reason.

    csam is never reinstated: no counter-notice or court order makes it lawful to distribute, so there is
    nothing a legal decision could restore; a sample wrongly matched is allow-listed instead (a reviewer with
    the restricted role, from the request's match row), which un-blocks that sample alone.
    """
    _check_actor(actor, roles.LEGAL, "reinstate removals", request)
    if not reason.strip():
        raise TakedownError("reinstating a removal needs the reason (it is kept in the audit trail)")
    request.refresh_from_db()
    if request.category == Category.CSAM:
        raise TakedownError(f"{request.tracking_id} is a csam request: csam is never reinstated. A sample it "
                            "matched wrongly is allow-listed from its match row instead")
    if request.status not in (Status.PUBLISHED, Status.COMPLETED):
        raise TakedownError(
            f"{request.tracking_id} is {request.get_status_display().lower()}: only a published or completed "
            "removal can be reinstated" + (" (reject it instead)" if request.status in (
                Status.RECEIVED, Status.TRIAGE, Status.NEEDS_INFO) else
                " (wait until it is published)" if request.status == Status.APPROVED else ""))
    with transaction.atomic():
        request = request_transition(request=request, to=Status.REINSTATED, actor=actor, role=roles.LEGAL,
                                     reason=f"reinstated now: {reason.strip()}")
        now = timezone.now()
        RemovalRequest.objects.filter(pk=request.pk).update(reinstated_at=now)
        # An open counter-notice has nothing left to restore.
        request.counter_notices.filter(restored_at=None, lawsuit_at=None).update(restored_at=now)
    request.refresh_from_db()
    notify_requester(request, f"Material restored for {request.tracking_id}", (
        "After review, the removal was undone and the material restored.\n"))
    return request


# ---------------------------------------------------------------- privacy


def erasure_extend(*, request: RemovalRequest, actor: Actor, months: int, reason: str) -> ErasureExtension:
    """Extend a privacy request's deadline by up to two months, with reasons, inside the first month."""
    _check_actor(actor, roles.LEGAL, "extend deadlines", request)
    request.refresh_from_db()
    if request.category != Category.PRIVACY:
        raise TakedownError("only privacy (GDPR erasure) requests can be extended")
    if not 1 <= months <= ERASURE_EXTENSION_MONTHS:
        raise TakedownError(f"an extension is 1 or {ERASURE_EXTENSION_MONTHS} months")
    if not reason.strip():
        raise TakedownError("an extension needs its reasons (GDPR Art. 12(3))")
    first_month_ends = request.received_at + relativedelta(months=1)
    if timezone.now() > first_month_ends:
        raise TakedownError(f"the reasons must be given within the first month (until {first_month_ends:%Y-%m-%d})")
    if hasattr(request, "erasure_extension"):
        raise TakedownError(f"{request.tracking_id} was already extended")
    with transaction.atomic():
        extension = ErasureExtension.objects.create(request=request, months=months, reason=reason.strip(),
                                                    recorded_by_label=actor.label)
        before = {"due_at": request.due_at}
        request.due_at = first_month_ends + relativedelta(months=months)
        request.save(update_fields=["due_at", "updated_at"])
        audit_record(actor=actor, action="request.deadline_extended", obj=request, before=before,
                     after={"due_at": request.due_at, "months": months, "reason": extension.reason})
    notify_requester(request, f"More time needed for {request.tracking_id}", (
        f"We need until {request.due_at:%Y-%m-%d} to complete your request, because:\n\n{extension.reason}\n"))
    return extension


def dmca_notice_fields(request: RemovalRequest) -> dict:
    """The six elements of a request's DMCA notice as recorded so far (empty without one), to correct them."""
    notice = getattr(request, "dmca_notice", None)
    return {} if notice is None else {name: getattr(notice, name) for name, _ in notice.ELEMENTS}


# ---------------------------------------------------------------- opt-out


def domain_proof_url(domain: str) -> str:
    """Where the requester publishes the token: https://DOMAIN/.well-known/takedown-opt-out.txt by default."""
    return settings.DOMAIN_PROOF_URL.format(domain=domain)


def domain_claim_start(*, request: RemovalRequest, domain: str) -> DomainClaim:
    """A token the requester publishes at domain_proof_url(domain) to prove control of the domain."""
    from apps.core.identifiers import InvalidIdentifier, normalise

    if request.category != Category.OPT_OUT:
        raise TakedownError("only opt-out requests prove a domain")
    try:
        domain = normalise("domain", domain)
    except InvalidIdentifier as exc:
        raise TakedownError(str(exc)) from None
    claim, _ = DomainClaim.objects.get_or_create(request=request, domain=domain,
                                                 defaults={"token": "takedown-" + secrets.token_urlsafe(24)})
    return claim


def domain_claim_check(*, claim: DomainClaim) -> DomainClaim:
    """Fetch the proof file (public addresses only, no redirects); when the token is there, the claim holds.

    Under the opt-out policy "unless proven", a request whose every identifier
    lies on proven domains is then approved without review.
    """
    url = domain_proof_url(claim.domain)
    claim.checked_at = timezone.now()
    try:
        found = claim.token in net.fetch_text(url).split()
        claim.last_error = "" if found else f"{url} does not hold the token"
    except (net.Refused, httpx.HTTPError) as exc:
        found, claim.last_error = False, str(exc)[:500]
    if found and claim.verified_at is None:
        claim.verified_at = timezone.now()
        audit_record(actor=Actor(label=f"domain:{claim.domain}"), action="request.domain_proven",
                     obj=claim.request, after={"domain": claim.domain})
    claim.save(update_fields=["checked_at", "last_error", "verified_at"])
    if found:
        opt_out_auto_approve(request=claim.request)
    return claim


def opt_out_auto_approve(*, request: RemovalRequest) -> bool:
    """Approve an opt-out without review when the policy allows: always, or when it proved its domains."""
    from urllib.parse import urlsplit

    policy = Policy.current().opt_out_review
    request.refresh_from_db()
    if request.category != Category.OPT_OUT or request.status not in (Status.RECEIVED, Status.TRIAGE):
        return False
    if policy == Policy.OptOutReview.ALWAYS:
        return False
    if policy == Policy.OptOutReview.UNLESS_PROVEN:
        proven = set(request.domain_claims.exclude(verified_at=None).values_list("domain", flat=True))
        hosts = []
        for ident in request.identifiers.all():
            if ident.kind == "domain":
                hosts.append(ident.value)
            elif ident.kind in ("url", "url_prefix"):
                hosts.append(urlsplit(ident.value).hostname or "")
            else:
                return False  # keys and hashes name no domain: a reviewer decides
        if not proven or not all(within(host, proven) for host in hosts):
            return False
    approved = request_approve(request=request, actor=Actor(label="policy:opt-out"), automatic=True)
    return approved.status == Status.APPROVED
