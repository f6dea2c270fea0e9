from celery import shared_task

from apps.events import registry
from apps.events.models import Heartbeat
from apps.events.services import handler_run, heartbeat_record, runs_reconcile


@shared_task
def handler_run_task(run_id: int) -> None:
    """Run one handler of one event, if it is still due (a second message for it finds it taken)."""
    handler_run(run_id=run_id)


@shared_task
def reconcile_task() -> None:
    """Beat: resume what dead workers and lost messages left, in the outbox and in every app's own queue."""
    runs_reconcile()
    for sweep in registry.sweepers():
        sweep()
    heartbeat_record(kind=Heartbeat.Kind.SCHEDULER, name="reconciler")
