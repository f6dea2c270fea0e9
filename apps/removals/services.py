"""Removal requests: intake, review, and the statuses later stages report back (published, completed).

Each change that later stages react to records its event (apps.removals.events)
in the same transaction: matching, publishing and notifying mirrors follow from
those events, never from a call made here.
"""
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core import mail, pdq, roles, validation
from apps.core.actors import Actor
from apps.core.categories import Category
from apps.core.errors import TakedownError
from apps.core.identifiers import ParsedIdentifier
from apps.datasets.models import Dataset, Release
from apps.events.services import event_record
from apps.removals.events import (
    REQUEST_APPROVED,
    REQUEST_COMPLETED,
    REQUEST_PUBLISHED,
    REQUEST_RECEIVED,
    REQUEST_REINSTATED,
    REQUEST_REJECTED,
    REQUEST_REMATCH,
)
from apps.removals.models import (
    BLOCKING_STATUSES,
    OPEN_STATUSES,
    Approval,
    Channel,
    HotlineReport,
    Identifier,
    Policy,
    RemovalRequest,
    Status,
)
from apps.removals.policy import auto_approval_refused, due_at
from apps.removals.selectors import secret_digest

# Crockford's base32 without look-alike letters: tracking ids get read out on the phone.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# The event each status change records, for the stages that react to it.
_EVENTS = {Status.APPROVED: REQUEST_APPROVED, Status.REJECTED: REQUEST_REJECTED,
           Status.REINSTATED: REQUEST_REINSTATED}


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

# What a status change is called in a refusal ("only staff with the reviewer role may reject a csam request").
_DOING = {Status.TRIAGE: "triage", Status.NEEDS_INFO: "ask for more information on", Status.APPROVED: "approve",
          Status.REJECTED: "reject"}


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
                   hotline: dict | None = None, dataset: Dataset | None = None,
                   release: Release | None = None) -> RemovalRequest:
    """Log a request with its (already validated) identifiers; the due date comes from its category.

    Entry points first ask apps.removals.policy.identifiers_check what the
    request may name. `dataset` (and `release`, one of its releases) limit it:
    it is matched only against those releases (blank: every dataset).

    csam requests are put under legal hold (Policy.legal_hold_days) and may
    carry their hotline report (`hotline`: hotline, report_id, reported_at,
    hotline_name). Records request.received: a worker matches it for review.
    """
    if category not in Category.values:
        raise TakedownError(f"unknown category {category!r} (expected one of: {', '.join(Category.values)})")
    if pdq_threshold is not None:
        pdq.check_threshold(pdq_threshold)
    if not identifiers:
        raise TakedownError("a removal request needs at least one identifier")
    if actor.user is not None:
        roles.require_role(actor.user, roles.INTAKE, "log removal requests")
    received_at = validation.sane_moment(received_at, field="received_at") or timezone.now()
    if release is not None:
        if dataset is not None and release.dataset_id != dataset.pk:
            raise TakedownError(f"release {release}: it is not a release of dataset {dataset}")
        dataset = release.dataset
    intake = intake or Intake()
    policy = Policy.current()
    rows = [(i.kind, i.value, i.line) for i in identifiers]
    with transaction.atomic():
        request = RemovalRequest.objects.create(
            tracking_id=_tracking_id(), category=category, source=source[:200], reference=reference[:200],
            notes=notes, received_at=received_at, due_at=due_at(category, received_at), pdq_threshold=pdq_threshold,
            channel=intake.channel, flagger=intake.flagger, requester_name=intake.requester_name[:200],
            requester_email=intake.requester_email, requester_details=intake.requester_details or {},
            legal_hold_until=(received_at + timedelta(days=policy.legal_hold_days)).date()
            if category == Category.CSAM else None, dataset=dataset, release=release,
        )
        _identifiers_insert(request, rows)
        audit_record(actor=actor, action="request.received", obj=request, after={
            **_snapshot(request), "channel": intake.channel, "source": source, "reference": reference,
            "identifiers": len(identifiers), "scope": request.scope,
        })
        if hotline:
            _hotline_report_write(request=request, actor=actor, **hotline)
        event_record(REQUEST_RECEIVED, request=request.pk)
    return request


def _identifiers_insert(request: RemovalRequest, rows: list[tuple[str, str, int | None]]) -> None:
    """A request's identifiers, with one prepared INSERT run for every row.

    For 100,000 identifiers that takes a third of the time bulk_create does (it
    builds a model object and a statement per row): on SQLite, the time every
    other writer waits for the request to be logged (under a second).
    """
    field = Identifier._meta.get_field
    columns = ", ".join(field(name).column for name in ("request", "kind", "value", "line", "match_count"))
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {Identifier._meta.db_table} ({columns}) VALUES (%s, %s, %s, %s, 0)",
                           [(request.pk, *row) for row in rows])


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
    validation.sane_moment(reported_at, field="hotline reported_at")
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


def request_notes_update(*, request: RemovalRequest, notes: str, actor: Actor) -> RemovalRequest:
    """Change a request's internal notes (staff with the intake role, and restricted for csam and ncii); audited."""
    _check_actor(actor, roles.INTAKE, "edit notes of", request)
    with transaction.atomic():
        request = RemovalRequest.objects.select_for_update().get(pk=request.pk)
        if request.notes != notes:
            audit_record(actor=actor, action="request.notes_changed", obj=request, before={"notes": request.notes},
                         after={"notes": notes})
            request.notes = notes
            request.save(update_fields=["notes", "updated_at"])
    return request


def request_assign(*, request: RemovalRequest, assignee: AbstractBaseUser | None, actor: Actor) -> RemovalRequest:
    """Give a request to a member of the team to work on (`assignee` None: to nobody); audited.

    Staff need the intake role, and restricted for a csam or ncii request: what
    they may not see they do not hand out. The assignee must hold a staff role
    and may see the request's category (restricted for csam and ncii).
    """
    _check_actor(actor, roles.INTAKE, "assign" if assignee is not None else "unassign", request)
    if assignee is not None:
        name = assignee.get_username()
        if not roles.has_role(assignee, roles.INTAKE):
            raise TakedownError(f"{name} cannot be assigned requests: they hold no staff role")
        if not roles.may_see(assignee, request.category):
            raise TakedownError(f"{name} cannot be assigned a {request.category} request: only staff with the "
                                "restricted role may see one")
    with transaction.atomic():
        # Lock the request row only: PostgreSQL cannot lock the nullable side of the join to the assignee.
        request = RemovalRequest.objects.select_for_update(of=("self",)).select_related("assignee").get(pk=request.pk)
        if request.assignee_id == (assignee.pk if assignee is not None else None):
            return request
        before = {"assignee": request.assignee.get_username() if request.assignee is not None else None}
        request.assignee = assignee
        request.save(update_fields=["assignee", "updated_at"])
        audit_record(actor=actor, action="request.assigned" if assignee is not None else "request.unassigned",
                     obj=request, before=before,
                     after={"assignee": assignee.get_username() if assignee is not None else None})
    return request


def status_secret_issue(*, request: RemovalRequest, actor: Actor | None = None) -> str:
    """A new secret with which the requester checks the status (shown once; kept as a hash; audited)."""
    secret = secrets.token_urlsafe(18)
    with transaction.atomic():
        replaced = RemovalRequest.objects.filter(pk=request.pk).exclude(status_secret_hash="").exists()
        RemovalRequest.objects.filter(pk=request.pk).update(status_secret_hash=secret_digest(secret))
        audit_record(actor=actor or Actor.system(), action="request.status_secret_issued", obj=request,
                     after={"replaced_previous": replaced})
    return secret


def request_transition(*, request: RemovalRequest, to: str, actor: Actor, reason: str = "",
                       role: str = roles.REVIEWER) -> RemovalRequest:
    """Move a request along the status machine (TRANSITIONS), with the reason, audited."""
    _check_actor(actor, role, _DOING.get(to, f"move requests to {Status(to).label.lower()}"), request)
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
        if to in _EVENTS:
            event_record(_EVENTS[to], request=request.pk)
    return request


def request_approve(*, request: RemovalRequest, actor: Actor, automatic: bool = False) -> RemovalRequest:
    """Approve a request for removal; workers then match and publish it (request.approved).

    A csam request may need two approvals from different reviewers
    (Policy.csam_second_reviewer): the first is recorded and the request waits.
    An `automatic` approval (the review policy's, on receipt or on a domain
    proof) is withheld, and recorded as such, when the request may not be
    approved without a reviewer (apps.removals.policy.auto_approval_refused):
    the request is returned unchanged, waiting for review.
    """
    _check_actor(actor, roles.REVIEWER, "approve", request)
    with transaction.atomic():
        request = RemovalRequest.objects.select_for_update().get(pk=request.pk)
        refused = auto_approval_refused(request) if automatic else None
        if refused:
            audit_record(actor=actor, action="request.auto_approval_withheld", obj=request,
                         after={"reason": f"a reviewer must approve it: {refused}"})
            return request
        if request.status not in OPEN_STATUSES:
            raise TakedownError(
                f"{request.tracking_id} is {request.get_status_display().lower()}; only received, "
                "in-triage or needs-information requests can be approved"
            )
        if request.flood_held:
            # A person approving after seeing the count releases the hold (a policy approval was refused above).
            request.flood_released_at, request.flood_released_by_label = timezone.now(), actor.label
            request.save(update_fields=["flood_released_at", "flood_released_by_label", "updated_at"])
            audit_record(actor=actor, action="request.flood_released", obj=request,
                         after={"samples": request.flood_samples, "detail": request.flood_detail})
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


def request_flood_hold(*, request: RemovalRequest, samples: int, detail: str) -> RemovalRequest:
    """Hold a request that would remove more than its flood limits for a reviewer (called by matching before it
    records the request's matches, so a held request's samples are never published).

    An approved request (a hotline's, approved on receipt) goes back to triage
    and its approvals are withdrawn: a reviewer decides, seeing the count, and
    that approval releases the hold (request_approve). A request already
    released by a reviewer, or no longer waiting to be published, is left alone.
    """
    with transaction.atomic():
        request = RemovalRequest.objects.select_for_update().get(pk=request.pk)
        if request.flood_released_at is not None or request.status not in (*OPEN_STATUSES, Status.APPROVED):
            return request
        before = {**_snapshot(request), "flood_samples": request.flood_samples}
        request.flood_held_at = request.flood_held_at or timezone.now()
        request.flood_samples, request.flood_detail = samples, detail[:500]
        fields = ["flood_held_at", "flood_samples", "flood_detail", "updated_at"]
        withdrawn = []
        if request.status == Status.APPROVED:
            withdrawn = list(request.approvals.values_list("actor_label", flat=True))
            request.approvals.all().delete()
            request.status, request.approved_at, request.approved_by, request.approved_by_label = (
                Status.TRIAGE, None, None, "")
            request.decided_at, request.decision_reason = None, f"held for a reviewer: {detail}"[:2000]
            fields += ["status", "approved_at", "approved_by", "approved_by_label", "decided_at", "decision_reason"]
        request.save(update_fields=fields)
        audit_record(actor=Actor.system(), action="request.flood_held", obj=request, before=before, after={
            **_snapshot(request), "flood_samples": samples, "detail": detail, "approvals_withdrawn": withdrawn})
    return request


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


def request_mark_published(*, request: RemovalRequest, versions: list[str]) -> bool:
    """An approved request's blocklists are out: it becomes published and the requester is told.

    Called by the publishing stage once every release the request hits carries
    it (`versions` names them, for the audit trail); records request.published.
    False when it was no longer approved (published already, or reinstated).
    """
    with transaction.atomic():
        request = RemovalRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != Status.APPROVED:
            return False
        before = _snapshot(request)
        request.status, request.published_at = Status.PUBLISHED, timezone.now()
        request.save(update_fields=["status", "published_at", "updated_at"])
        audit_record(actor=Actor.system(), action="request.published", obj=request, before=before,
                     after={**_snapshot(request), "versions": versions})
        event_record(REQUEST_PUBLISHED, request=request.pk)
        notify_requester(request, f"Your removal request {request.tracking_id} was carried out", (
            "We accepted your request and removed what it names from the dataset's published blocklists.\n"
            "The mirrors that copy the dataset are being told to remove it too.\n"))
    return True


def request_complete(*, request: RemovalRequest) -> bool:
    """A published request that every active mirror has applied is completed; False when it was not published."""
    with transaction.atomic():
        now = timezone.now()
        if not RemovalRequest.objects.filter(pk=request.pk, status=Status.PUBLISHED).update(
                status=Status.COMPLETED, completed_at=now, updated_at=now):
            return False
        request.refresh_from_db()
        audit_record(actor=Actor.system(), action="request.completed", obj=request,
                     before={**_snapshot(request), "status": Status.PUBLISHED}, after=_snapshot(request))
        event_record(REQUEST_COMPLETED, request=request.pk)
    return True


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


# Statuses in which a request is matched (under review, or blocking): the others are matched no more.
_MATCHED_STATUSES = (*OPEN_STATUSES, *BLOCKING_STATUSES)


def request_rematch(*, request: RemovalRequest, actor: Actor) -> None:
    """Ask for a request to be matched again against every ready release of its scope, by a worker
    (request.rematch): for matching that never ran, died, or missed a release. Audited."""
    _check_actor(actor, roles.INTAKE, "ask for matching to run again")
    request.refresh_from_db()
    if request.status not in _MATCHED_STATUSES:
        raise TakedownError(f"{request.tracking_id} is {request.get_status_display().lower()}: it is matched no "
                            "more, so there is nothing to match again")
    with transaction.atomic():
        audit_record(actor=actor, action="request.rematch", obj=request, after={"status": request.status})
        event_record(REQUEST_REMATCH, request=request.pk)
