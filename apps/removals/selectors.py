"""Reading removal requests."""
import hashlib
import secrets
from datetime import date

from django.db.models import CharField, QuerySet
from django.db.models.functions import Cast
from django.utils import timezone

from apps.core.categories import RESTRICTED_CATEGORIES
from apps.core.errors import TakedownError
from apps.datasets.models import Dataset, Release
from apps.events.models import Event
from apps.removals import events
from apps.removals.models import CounterNotice, RemovalRequest, Status

_OWN_EVENTS = [events.REQUEST_RECEIVED, events.REQUEST_APPROVED, events.REQUEST_REJECTED, events.REQUEST_PUBLISHED,
               events.REQUEST_COMPLETED, events.REQUEST_REINSTATED, events.REQUEST_REMATCH]


def requests_restricted(ids: list[str]) -> set[str]:
    """Of these request ids, those whose details only restricted staff may see: csam and ncii requests, and
    requests no longer there (the legal hold keeps csam ones, so a missing one is treated as restricted)."""
    known = dict(RemovalRequest.objects.filter(pk__in=[i for i in ids if str(i).isdigit()])
                 .values_list("pk", "category"))
    return {i for i in ids if not str(i).isdigit() or known.get(int(i), RESTRICTED_CATEGORIES[0])
            in RESTRICTED_CATEGORIES}


def requests_open_ids() -> QuerySet:
    """The ids (as text, as the audit trail keeps them) of the requests anyone on the staff may read in full."""
    return (RemovalRequest.objects.exclude(category__in=RESTRICTED_CATEGORIES)
            .annotate(text_id=Cast("pk", CharField())).values("text_id"))


def events_about(*, request: RemovalRequest) -> list[Event]:
    """The events a request's own changes recorded (received, approved, ...), oldest first."""
    return list(Event.objects.filter(name__in=_OWN_EVENTS, payload__request=request.pk).order_by("pk"))


def secret_digest(secret: str) -> str:
    """How a requester's status secret is kept (SHA-256: it is long and random)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def request_status_for(*, tracking_id: str, secret: str) -> RemovalRequest | None:
    """The request, when the tracking id and secret match (a requester checking the status)."""
    request = RemovalRequest.objects.filter(tracking_id=tracking_id.strip().upper()).first()
    if request is None or not request.status_secret_hash:
        return None
    return request if secrets.compare_digest(request.status_secret_hash, secret_digest(secret.strip())) else None


def counter_notices_due(today: date | None = None) -> list[CounterNotice]:
    """Counter-notices whose restore window has opened, with no lawsuit and nothing restored yet."""
    today = today or timezone.localdate()
    return list(CounterNotice.objects.filter(
        restore_not_before__lte=today, lawsuit_at__isnull=True, restored_at__isnull=True,
        request__status__in=(Status.PUBLISHED, Status.COMPLETED),
    ).select_related("request"))


def scope_find(*, dataset: str = "", release: str = "", fields: tuple[str, str] = ("dataset", "release")
               ) -> tuple[Dataset | None, Release | None]:
    """The dataset and release a request is limited to, by name (blank: none); refused naming the unknown one.

    `fields` names the two inputs in the messages (e.g. --dataset, --release).
    """
    dataset, release = (dataset or "").strip(), (release or "").strip()
    if release and not dataset:
        raise TakedownError(f"{fields[1]} {release!r}: give the dataset it belongs to ({fields[0]})")
    if not dataset:
        return None, None
    found = Dataset.objects.filter(name=dataset).first()
    if found is None:
        known = ", ".join(Dataset.objects.order_by("name").values_list("name", flat=True)[:20]) or "none yet"
        raise TakedownError(f"{fields[0]} {dataset!r}: no such dataset (known: {known})")
    if not release:
        return found, None
    found_release = Release.objects.filter(dataset=found, name=release).select_related("dataset").first()
    if found_release is None:
        known = ", ".join(found.releases.order_by("name").values_list("name", flat=True)[:20]) or "none yet"
        raise TakedownError(f"{fields[1]} {release!r}: dataset {dataset} has no such release (known: {known})")
    return found, found_release
