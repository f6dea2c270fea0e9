"""{% removal_deadlines as deadlines %}: counts of overdue and soon-due requests, for the admin banners."""
from django import template

from apps.removals import deadlines
from apps.removals.models import Policy

register = template.Library()


@register.simple_tag
def removal_deadlines() -> dict:
    return {"overdue": deadlines.requests_overdue().count(), "due_soon": deadlines.requests_due_soon().count(),
            "soon_hours": Policy.current().soon_due_hours}
