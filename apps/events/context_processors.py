"""The admin's banner when background work is stuck: no worker, no scheduler, or tasks dead for good."""
from apps.core import roles
from apps.events.selectors import background_health


def background(request) -> dict:
    if not request.path.startswith("/admin/") or not roles.has_role(getattr(request, "user", None), roles.INTAKE):
        return {}
    return {"background_problems": background_health().problems}
