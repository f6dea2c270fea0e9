"""Reading removal requests."""
from apps.core.categories import RESTRICTED_CATEGORIES
from apps.events.models import Event
from apps.removals import events
from apps.removals.models import RemovalRequest

_OWN_EVENTS = [events.REQUEST_RECEIVED, events.REQUEST_APPROVED, events.REQUEST_REJECTED, events.REQUEST_PUBLISHED,
               events.REQUEST_COMPLETED, events.REQUEST_REINSTATED]


def requests_restricted(ids: list[str]) -> set[str]:
    """Of these request ids, those whose details only restricted staff may see: csam and ncii requests, and
    requests no longer there (the legal hold keeps csam ones, so a missing one is treated as restricted)."""
    known = dict(RemovalRequest.objects.filter(pk__in=[i for i in ids if str(i).isdigit()])
                 .values_list("pk", "category"))
    return {i for i in ids if not str(i).isdigit() or known.get(int(i), RESTRICTED_CATEGORIES[0])
            in RESTRICTED_CATEGORIES}


def events_about(*, request: RemovalRequest) -> list[Event]:
    """The events a request's own changes recorded (received, approved, ...), oldest first."""
    return list(Event.objects.filter(name__in=_OWN_EVENTS, payload__request=request.pk).order_by("pk"))
