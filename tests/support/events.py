"""Doing here what the workers would do next: for tests that are not about the workers themselves."""
from apps.events.models import Event, HandlerRun
from apps.events.services import Drained, events_drain


def run_pending() -> Drained:
    """Run every handler run not yet done, and whatever it causes, in this process."""
    waiting = Event.objects.filter(runs__status__in=(HandlerRun.Status.PENDING, HandlerRun.Status.RUNNING))
    return events_drain(list(waiting.distinct()))
