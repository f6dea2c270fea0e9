"""Which audit events only restricted staff may read in full, decided by the app that owns the object.

The audit trail sits below every stage, so it cannot know what a csam request
is; the stage that can registers a check for its object type (in its AppConfig).
"""
from collections.abc import Callable

# object type ("app_label.model") -> given object ids, those whose events are restricted
_checks: dict[str, Callable[[list[str]], set[str]]] = {}


def restrict(object_type: str, check: Callable[[list[str]], set[str]]) -> None:
    _checks[object_type] = check


def restricted(object_type: str, object_ids: list[str]) -> set[str]:
    """The ids among `object_ids` whose events only restricted staff may read in full."""
    check = _checks.get(object_type)
    return check(object_ids) if check is not None and object_ids else set()
