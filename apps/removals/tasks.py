from celery import shared_task

from apps.core.actors import Actor
from apps.removals.deadlines import reminders_send
from apps.removals.legal import request_reinstate
from apps.removals.selectors import counter_notices_due


@shared_task
def reminders_task() -> None:
    """Periodic: email staff about overdue and soon-due requests."""
    reminders_send()


@shared_task
def counter_notices_task() -> None:
    """Periodic: restore removals whose counter-notice window opened with no lawsuit recorded."""
    for notice in counter_notices_due():
        request_reinstate(notice=notice, actor=Actor(label="system:counter-notice"))
