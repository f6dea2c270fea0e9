"""Staff roles: what each member of the host's team may see and do.

Roles are Django groups of these names (made by a migration). A superuser
holds every role. Restricted is added to another role: it lets its holder see
the identifiers, matches and requester of csam and ncii requests.
"""
from django.contrib.auth.models import AbstractBaseUser

from apps.core.categories import RESTRICTED_CATEGORIES
from apps.core.errors import TakedownError

INTAKE = "intake"
REVIEWER = "reviewer"
LEGAL = "legal"
RESTRICTED = "restricted"
ADMIN = "admin"
ROLES = (INTAKE, REVIEWER, LEGAL, RESTRICTED, ADMIN)
# Roles that include others: an admin reviews, a reviewer logs requests.
_INCLUDES = {ADMIN: {INTAKE, REVIEWER, LEGAL}, LEGAL: {INTAKE}, REVIEWER: {INTAKE}}


def roles_of(user: AbstractBaseUser | None) -> set[str]:
    """The roles a user holds, including those their roles include."""
    if user is None or not user.is_active or not getattr(user, "is_staff", False):
        return set()
    if user.is_superuser:
        return set(ROLES)
    held = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
    for role in list(held):
        held |= _INCLUDES.get(role, set())
    return held


def has_role(user: AbstractBaseUser | None, role: str) -> bool:
    return role in roles_of(user)


def require_role(user: AbstractBaseUser | None, role: str, doing: str) -> None:
    """Refuse, with a clear message, a user without the role."""
    if not has_role(user, role):
        raise TakedownError(f"only staff with the {role} role may {doing}")


def may_see(user: AbstractBaseUser | None, category: str) -> bool:
    """Whether a user may see a request's identifiers, matches and requester (csam and ncii: restricted only)."""
    return category not in RESTRICTED_CATEGORIES or has_role(user, RESTRICTED)
