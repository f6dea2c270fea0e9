"""Which audit events only restricted staff may read in full, decided by the app that owns the object.

The audit trail sits below every stage, so it cannot know what a csam request
is; the stage that can registers, for its object type (in its AppConfig), a
check of given ids and the ids whose events anyone may read, as a query.
"""
from collections.abc import Callable

from django.db.models import Q, QuerySet

# object type ("app_label.model") -> given object ids, those whose events are restricted
_checks: dict[str, Callable[[list[str]], set[str]]] = {}
# object type -> a query of the object ids (as text) whose events are not restricted
_open: dict[str, Callable[[], QuerySet]] = {}


def restrict(object_type: str, check: Callable[[list[str]], set[str]], open_ids: Callable[[], QuerySet]) -> None:
    _checks[object_type], _open[object_type] = check, open_ids


def restricted(object_type: str, object_ids: list[str]) -> set[str]:
    """The ids among `object_ids` whose events only restricted staff may read in full."""
    check = _checks.get(object_type)
    return check(object_ids) if check is not None and object_ids else set()


def restricted_events() -> Q:
    """The events only restricted staff may read in full, as a filter on audit events."""
    condition = Q(pk__in=[])
    for object_type, open_ids in _open.items():
        condition |= Q(object_type=object_type) & ~Q(object_id__in=open_ids())
    return condition
