from celery import shared_task

from apps.advisories.notify import advisories_escalate


@shared_task
def advisory_escalations_task() -> None:
    """Periodic: email staff once about each advisory unanswered past its deadline."""
    advisories_escalate()
