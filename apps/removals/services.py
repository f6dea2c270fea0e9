"""Removal requests: intake, approval, publication and completion."""
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Min
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core import mail, roles
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.datasets.models import Release
from apps.removals.models import (
    BLOCKING_STATUSES,
    OPEN_STATUSES,
    PDQ_MAX_THRESHOLD,
    Approval,
    Category,
    Channel,
    HotlineReport,
    Identifier,
    Policy,
    RemovalRequest,
    Status,
)
from apps.removals.parsing import ParsedIdentifier
from apps.removals.policy import due_at

# Crockford's base32 without look-alike letters: tracking ids get read out on the phone.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# An approved request not published after this long has lost its queue message.
RESUME_AFTER = timedelta(minutes=1)


def _tracking_id() -> str:
    return "TD-" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def _snapshot(request: RemovalRequest) -> dict:
    return {"status": request.status, "category": request.category}


# The status machine: from each status, where a request may go next.
TRANSITIONS = {
    Status.RECEIVED: {Status.TRIAGE, Status.NEEDS_INFO, Status.APPROVED, Status.REJECTED},
    Status.TRIAGE: {Status.NEEDS_INFO, Status.APPROVED, Status.REJECTED},
    Status.NEEDS_INFO: {Status.TRIAGE, Status.APPROVED, Status.REJECTED},
    Status.APPROVED: {Status.PUBLISHED},
    Status.PUBLISHED: {Status.COMPLETED, Status.REINSTATED},
    Status.COMPLETED: {Status.REINSTATED},
    Status.REJECTED: {Status.TRIAGE},
    Status.REINSTATED: set(),
}


@dataclass(frozen=True)
class Intake:
    """Where a request came from and who sent it (all optional: staff and the command line send none)."""

    channel: str = Channel.STAFF
    flagger: object = None
    requester_name: str = ""
    requester_email: str = ""
    requester_details: dict | None = None


def _check_actor(actor: Actor, role: str, doing: str, request: RemovalRequest | None = None) -> None:
    """A staff user needs the role (and restricted for csam and ncii); the command line and the system act
    with the host's full authority."""
    if actor.user is None:
        return
    roles.require_role(actor.user, role, doing)
    if request is not None and not roles.may_see(actor.user, request.category):
        raise TakedownError(f"only staff with the restricted role may {doing} a {request.category} request")


def request_create(*, category: str, identifiers: list[ParsedIdentifier], actor: Actor, source: str = "",
                   reference: str = "", notes: str = "", received_at: datetime | None = None,
                   pdq_threshold: int | None = None, intake: Intake | None = None,
                   hotline: dict | None = None, dmca: dict | None = None) -> RemovalRequest:
    """Log a request with its (already validated) identifiers; the due date comes from its category.

    csam requests are put under legal hold (Policy.legal_hold_days) and may
    carry their hotline report (`hotline`: hotline, report_id, reported_at,
    hotline_name). A copyright request may carry its DMCA notice (`dmca`: the
    six elements); one missing any element is sent back as needing information.
    """
    if category not in Category.values:
        raise TakedownError(f"unknown category {category!r} (expected one of: {', '.join(Category.values)})")
    if pdq_threshold is not None and not 0 <= pdq_threshold <= PDQ_MAX_THRESHOLD:
        raise TakedownError(f"PDQ threshold {pdq_threshold} must be between 0 and {PDQ_MAX_THRESHOLD}")
    if not identifiers:
        raise TakedownError("a removal request needs at least one identifier")
    if actor.user is not None:
        roles.require_role(actor.user, roles.INTAKE, "log removal requests")
    received_at = received_at or timezone.now()
    intake = intake or Intake()
    policy = Policy.current()
    with transaction.atomic():
        request = RemovalRequest.objects.create(
            tracking_id=_tracking_id(), category=category, source=source[:200], reference=reference[:200],
            notes=notes, received_at=received_at, due_at=due_at(category, received_at), pdq_threshold=pdq_threshold,
            channel=intake.channel, flagger=intake.flagger, requester_name=intake.requester_name[:200],
            requester_email=intake.requester_email, requester_details=intake.requester_details or {},
            legal_hold_until=(received_at + timedelta(days=policy.legal_hold_days)).date()
            if category == Category.CSAM else None,
        )
        Identifier.objects.bulk_create(
            [Identifier(request=request, kind=i.kind, value=i.value, line=i.line) for i in identifiers],
            batch_size=2000,
        )
        audit_record(actor=actor, action="request.received", obj=request, after={
            **_snapshot(request), "channel": intake.channel, "source": source, "reference": reference,
            "identifiers": len(identifiers),
        })
        if hotline:
            _hotline_report_write(request=request, actor=actor, **hotline)
        if dmca is not None:
            from apps.removals.legal import dmca_notice_record

            dmca_notice_record(request=request, actor=actor, **dmca)
    return request


def hotline_report_record(*, request: RemovalRequest, actor: Actor, hotline: str, report_id: str,
                          reported_at: datetime | None = None, hotline_name: str = "") -> HotlineReport:
    """Record the hotline report of a csam request (18 USC 2258A: report as soon as reasonably possible).

    Staff need the intake and restricted roles. A report once recorded is kept
    under the request's legal hold: it cannot be replaced by another.
    """
    _check_actor(actor, roles.INTAKE, "record hotline reports", request)
    return _hotline_report_write(request=request, actor=actor, hotline=hotline, report_id=report_id,
                                 reported_at=reported_at, hotline_name=hotline_name)


def _hotline_report_write(*, request: RemovalRequest, actor: Actor, hotline: str, report_id: str,
                          reported_at: datetime | None = None, hotline_name: str = "") -> HotlineReport:
    if request.category != Category.CSAM:
        raise TakedownError("only csam requests carry a hotline report")
    if hotline not in HotlineReport.Hotline.values:
        raise TakedownError(f"unknown hotline {hotline!r} (expected one of: {', '.join(HotlineReport.Hotline.values)})")
    if not report_id.strip():
        raise TakedownError("a hotline report needs its report id")
    with transaction.atomic():
        existing = HotlineReport.objects.select_for_update().filter(request=request).first()
        if existing is not None:
            if (existing.hotline, existing.report_id) == (hotline, report_id.strip()[:200]):
                return existing
            raise TakedownError(f"{request.tracking_id} already has its hotline report ({existing}); it is kept "
                                "under legal hold and cannot be replaced")
        report = HotlineReport.objects.create(
            request=request, hotline=hotline, hotline_name=hotline_name[:200], report_id=report_id.strip()[:200],
            reported_at=reported_at or timezone.now(),
        )
        audit_record(actor=actor, action="request.hotline_reported", obj=request, after={
            "hotline": hotline, "report_id": report.report_id, "reported_at": report.reported_at,
        })
    return report


def status_secret_issue(*, request: RemovalRequest, actor: Actor | None = None) -> str:
    """A new secret with which the requester checks the status (shown once; kept as a hash; audited)."""
    secret = secrets.token_urlsafe(18)
    with transaction.atomic():
        replaced = RemovalRequest.objects.filter(pk=request.pk).exclude(status_secret_hash="").exists()
        RemovalRequest.objects.filter(pk=request.pk).update(status_secret_hash=_digest(secret))
        audit_record(actor=actor or Actor.system(), action="request.status_secret_issued", obj=request,
                     after={"replaced_previous": replaced})
    return secret


def request_status_for(*, tracking_id: str, secret: str) -> RemovalRequest | None:
    """The request, when the tracking id and secret match (a requester checking the status)."""
    request = RemovalRequest.objects.filter(tracking_id=tracking_id.strip().upper()).first()
    if request is None or not request.status_secret_hash:
        return None
    return request if secrets.compare_digest(request.status_secret_hash, _digest(secret.strip())) else None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def request_transition(*, request: RemovalRequest, to: str, actor: Actor, reason: str = "",
                       role: str = roles.REVIEWER) -> RemovalRequest:
    """Move a request along the status machine (TRANSITIONS), with the reason, audited."""
    _check_actor(actor, role, f"move requests to {Status(to).label.lower()}", request)
    with transaction.atomic():
        request = RemovalRequest.objects.select_for_update().get(pk=request.pk)
        if to not in TRANSITIONS[Status(request.status)]:
            allowed = ", ".join(sorted(Status(s).label.lower() for s in TRANSITIONS[Status(request.status)]))
            allowed = allowed or "none"
            raise TakedownError(f"{request.tracking_id} is {request.get_status_display().lower()}: it cannot become "
                                f"{Status(to).label.lower()} (next steps: {allowed})")
        before = _snapshot(request)
        request.status = to
        fields = ["status", "updated_at"]
        if to in (Status.APPROVED, Status.REJECTED):
            request.decided_at, request.decision_reason = timezone.now(), reason
            fields += ["decided_at", "decision_reason"]
        elif reason:
            request.decision_reason = reason
            fields.append("decision_reason")
        if to == Status.APPROVED:
            request.approved_at = timezone.now()
            request.approved_by, request.approved_by_label = actor.user, actor.label
            fields += ["approved_at", "approved_by", "approved_by_label"]
        request.save(update_fields=fields)
        audit_record(actor=actor, action=f"request.{to}", obj=request, before=before,
                     after={**_snapshot(request), **({"reason": reason} if reason else {})})
    return request


def request_approve(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    """Approve a request for removal; publication follows (request_publish).

    A csam request may need two approvals from different reviewers
    (Policy.csam_second_reviewer): the first is recorded and the request waits.
    """
    _check_actor(actor, roles.REVIEWER, "approve", request)
    with transaction.atomic():
        request = RemovalRequest.objects.select_for_update().get(pk=request.pk)
        if request.status not in OPEN_STATUSES:
            raise TakedownError(
                f"{request.tracking_id} is {request.get_status_display().lower()}; only received, "
                "in-triage or needs-information requests can be approved"
            )
        if request.approvals.filter(actor_label=actor.label).exists():
            raise TakedownError(f"{actor.label} has already approved {request.tracking_id}; "
                                "a second reviewer must approve it")
        Approval.objects.create(request=request, user=actor.user, actor_label=actor.label)
        needed = 2 if request.category == Category.CSAM and Policy.current().csam_second_reviewer else 1
        if request.approvals.count() < needed:
            audit_record(actor=actor, action="request.first_approval", obj=request,
                         after={"approvals": 1, "needed": needed})
            return request
    return request_transition(request=request, to=Status.APPROVED, actor=actor)


def request_reject(*, request: RemovalRequest, actor: Actor, reason: str) -> RemovalRequest:
    """Reject a request, saying why (told to the requester when there is an address)."""
    if not reason.strip():
        raise TakedownError("say why the request is rejected")
    request = request_transition(request=request, to=Status.REJECTED, actor=actor, reason=reason.strip())
    notify_requester(request, f"Your removal request {request.tracking_id} was not accepted",
                     f"We did not accept your request:\n\n{reason.strip()}\n")
    return request


def request_needs_info(*, request: RemovalRequest, actor: Actor, reason: str) -> RemovalRequest:
    """Send a request back to its requester for what it lacks."""
    if not reason.strip():
        raise TakedownError("say what information is missing")
    request = request_transition(request=request, to=Status.NEEDS_INFO, actor=actor, reason=reason.strip(),
                                 role=roles.INTAKE)
    notify_requester(request, f"Your removal request {request.tracking_id} needs more information",
                     f"Before we can act on your request we need:\n\n{reason.strip()}\n")
    return request


def notify_requester(request: RemovalRequest, subject: str, body: str) -> None:
    """Email the requester, if they gave an address (after the change commits)."""
    if request.requester_email:
        transaction.on_commit(lambda: mail.send(to=[request.requester_email], subject=subject, body=body))


def request_approve_later(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    """Approve now and let a worker publish, once the approval has committed."""
    from apps.removals.tasks import request_publish_task

    request = request_approve(request=request, actor=actor)
    transaction.on_commit(lambda: request_publish_task.delay(request.pk))
    return request


def request_publish(*, request: RemovalRequest, actor: Actor | None = None) -> list:
    """Match an approved request against every release and publish each affected release's blocklist.

    Returns the blocklist versions that now carry the request. Safe to run
    again, and by several workers at once: matching adds only what is new and
    an unchanged blocklist is not published twice.
    """
    from apps.blocklists.services import blocklist_publish
    from apps.matching.services import request_match

    actor = actor or Actor.system()
    request.refresh_from_db()
    if request.status not in BLOCKING_STATUSES:
        raise TakedownError(f"{request.tracking_id} is {request.get_status_display().lower()}, not approved")
    summary = request_match(request=request)
    versions = []
    for release in Release.objects.filter(pk__in=summary.releases).select_related("dataset"):
        result = blocklist_publish(release=release, requests=[request], actor=actor)
        if result.version is not None:
            versions.append(result.version)
    with transaction.atomic():
        request = RemovalRequest.objects.select_for_update().get(pk=request.pk)
        if request.status == Status.APPROVED:
            before = _snapshot(request)
            request.status = Status.PUBLISHED
            request.published_at = timezone.now()
            request.save(update_fields=["status", "published_at", "updated_at"])
            audit_record(actor=actor, action="request.published", obj=request, before=before, after={
                **_snapshot(request), "versions": [str(v) for v in versions],
            })
            notify_requester(request, f"Your removal request {request.tracking_id} was carried out", (
                "We accepted your request and removed what it names from the dataset's published blocklists.\n"
                "The mirrors that copy the dataset are being told to remove it too.\n"))
    for release in {v.release for v in versions}:
        requests_complete(release=release)
    return versions


def requests_to_resume() -> list[int]:
    """Approved requests still unpublished a while after approval: their publish message was lost."""
    cutoff = timezone.now() - RESUME_AFTER
    return list(
        RemovalRequest.objects.filter(status=Status.APPROVED, approved_at__lt=cutoff).values_list("pk", flat=True)
    )


def release_catch_up(*, release: Release, actor: Actor | None = None):
    """Apply every approved request to a newly imported release and publish its first blocklist.

    Safe to run again; the release records when it was done, so a worker that
    died before finishing is followed by the periodic releases_catch_up_task.
    """
    from apps.blocklists.services import blocklist_publish
    from apps.matching.services import request_match

    requests = list(RemovalRequest.objects.filter(status__in=BLOCKING_STATUSES))
    hit = [r for r in requests if release.pk in request_match(request=r, releases=[release]).releases]
    version = blocklist_publish(release=release, requests=hit, actor=actor).version if hit else None
    Release.objects.filter(pk=release.pk).update(caught_up_at=timezone.now())
    return version


def releases_to_catch_up() -> list[int]:
    """Ready releases whose catch-up never finished (a worker died first)."""
    cutoff = timezone.now() - RESUME_AFTER
    return list(Release.objects.filter(status=Release.Status.READY, caught_up_at__isnull=True,
                                       indexed_at__lt=cutoff).values_list("pk", flat=True))


def _mirrors_pending(request: RemovalRequest) -> bool:
    """Whether some active mirror has not yet applied a version that carries the request."""
    from apps.blocklists.models import BlocklistVersion
    from apps.mirrors.models import Acknowledgement, Mirror

    firsts = (
        BlocklistVersion.objects.filter(requests=request)
        .values("release_id", "release__dataset_id")
        .annotate(first=Min("version"))
    )
    if not firsts:
        return True
    for row in firsts:
        applied = Acknowledgement.objects.filter(
            status=Acknowledgement.Status.APPLIED, blocklist__release_id=row["release_id"],
            blocklist__version__gte=row["first"],
        ).values_list("mirror_id", flat=True)
        mirrors = Mirror.objects.filter(active=True, subscriptions__dataset_id=row["release__dataset_id"])
        if mirrors.exclude(pk__in=applied).exists():
            return True
    return False


def requests_complete(*, release: Release) -> list[RemovalRequest]:
    """Mark published requests completed once every active mirror of every affected release applied them.

    Called on every acknowledgement, so the common case (some mirror of this
    release has not applied the request's first version yet) costs three queries.
    """
    from apps.blocklists.models import BlocklistVersion
    from apps.mirrors.models import Acknowledgement, Mirror

    completed = []
    candidates = list(RemovalRequest.objects.filter(status=Status.PUBLISHED, matches__release=release).distinct())
    if not candidates:
        return completed
    # The newest version each active mirror of this release applied; the least of them bounds what is complete.
    mirrors = Mirror.objects.filter(active=True, subscriptions__dataset_id=release.dataset_id).values("pk")
    applied = dict(Acknowledgement.objects.filter(
        status=Acknowledgement.Status.APPLIED, blocklist__release=release, mirror__in=mirrors,
    ).values("mirror").annotate(newest=Max("blocklist__version")).values_list("mirror", "newest"))
    everyone = min((applied.get(pk, 0) for pk in mirrors.values_list("pk", flat=True)), default=None)
    firsts = dict(BlocklistVersion.objects.filter(release=release, requests__in=candidates)
                  .values("requests").annotate(first=Min("version")).values_list("requests", "first"))
    for request in candidates:
        first = firsts.get(request.pk)
        if everyone is not None and (first is None or first > everyone):
            continue  # a mirror of this release has not applied it yet
        if _mirrors_pending(request):  # every release it is in
            continue
        with transaction.atomic():
            updated = RemovalRequest.objects.filter(pk=request.pk, status=Status.PUBLISHED).update(
                status=Status.COMPLETED, completed_at=timezone.now(), updated_at=timezone.now())
            if updated:
                before = _snapshot(request)
                request.refresh_from_db()
                audit_record(actor=Actor.system(), action="request.completed", obj=request, before=before,
                             after=_snapshot(request))
                completed.append(request)
    return completed


def policy_update(*, actor: Actor, **changes) -> Policy:
    """Change the review policy (admins only); the change is audited field by field."""
    _check_actor(actor, roles.ADMIN, "change the review policy")
    with transaction.atomic():
        policy = Policy.objects.select_for_update().get(pk=Policy.current().pk)
        before = {name: getattr(policy, name) for name in changes}
        for name, value in changes.items():
            setattr(policy, name, value)
        try:
            policy.full_clean()
        except ValidationError as exc:
            raise TakedownError("; ".join(f"{field}: {' '.join(messages)}"
                                          for field, messages in exc.message_dict.items())) from None
        policy.save()
        changed = {name: value for name, value in changes.items() if before[name] != value}
        if changed:
            audit_record(actor=actor, action="policy.changed", obj=policy,
                         before={k: before[k] for k in changed}, after=changed)
    return policy
