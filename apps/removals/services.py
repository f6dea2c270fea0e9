"""Removal requests: intake, approval, publication and completion."""
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.actors import Actor
from apps.core.errors import TakedownError
from apps.datasets.models import Release
from apps.removals.models import (
    BLOCKING_STATUSES,
    OPEN_STATUSES,
    PDQ_MAX_THRESHOLD,
    Category,
    Identifier,
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


def request_create(*, category: str, identifiers: list[ParsedIdentifier], actor: Actor, source: str = "",
                   reference: str = "", notes: str = "", received_at: datetime | None = None,
                   pdq_threshold: int | None = None) -> RemovalRequest:
    """Log a request with its (already validated) identifiers; due date from its category."""
    if category not in Category.values:
        raise TakedownError(f"unknown category {category!r} (expected one of: {', '.join(Category.values)})")
    if pdq_threshold is not None and not 0 <= pdq_threshold <= PDQ_MAX_THRESHOLD:
        raise TakedownError(f"PDQ threshold {pdq_threshold} must be between 0 and {PDQ_MAX_THRESHOLD}")
    if not identifiers:
        raise TakedownError("a removal request needs at least one identifier")
    received_at = received_at or timezone.now()
    with transaction.atomic():
        request = RemovalRequest.objects.create(
            tracking_id=_tracking_id(), category=category, source=source[:200], reference=reference[:200],
            notes=notes, received_at=received_at, due_at=due_at(category, received_at), pdq_threshold=pdq_threshold,
        )
        Identifier.objects.bulk_create(
            [Identifier(request=request, kind=i.kind, value=i.value, line=i.line) for i in identifiers],
            batch_size=2000,
        )
        audit_record(actor=actor, action="request.received", obj=request, after={
            **_snapshot(request), "source": source, "reference": reference, "identifiers": len(identifiers),
        })
    return request


def request_approve(*, request: RemovalRequest, actor: Actor) -> RemovalRequest:
    """Approve a request for removal; publication follows (request_publish)."""
    with transaction.atomic():
        request = RemovalRequest.objects.select_for_update().get(pk=request.pk)
        if request.status not in OPEN_STATUSES:
            raise TakedownError(
                f"{request.tracking_id} is {request.get_status_display().lower()}; only received, "
                "in-triage or needs-information requests can be approved"
            )
        before = _snapshot(request)
        request.status = Status.APPROVED
        request.approved_at = timezone.now()
        request.approved_by = actor.user
        request.approved_by_label = actor.label
        request.save(update_fields=["status", "approved_at", "approved_by", "approved_by_label", "updated_at"])
        audit_record(actor=actor, action="request.approved", obj=request, before=before, after=_snapshot(request))
    return request


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
    """Mark published requests completed once every active mirror of every affected release applied them."""
    completed = []
    candidates = RemovalRequest.objects.filter(status=Status.PUBLISHED, matches__release=release).distinct()
    for request in candidates:
        if _mirrors_pending(request):
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
