from celery import shared_task
from django.utils import timezone

from apps.events.registry import sweep
from apps.mirrors import deadlines
from apps.mirrors.models import WebhookDelivery
from apps.mirrors.selectors import deliveries_due, deliveries_due_with
from apps.mirrors.services import deliveries_send, event_fanout, feed_prune


def schedule_retry(delivery: WebhookDelivery) -> None:
    """Queue a delivery's next try for when it is due (called as each outcome of a fan-out is saved)."""
    if delivery.status == WebhookDelivery.Status.PENDING:
        # A timer may fire a moment early: deliveries_send takes a delivery due within DUE_EARLY.
        wait = max(0.0, (delivery.next_attempt_at - timezone.now()).total_seconds())
        delivery_send_task.apply_async((delivery.pk,), countdown=wait)


@shared_task
def event_fanout_task(event_id: int) -> None:
    """Send a feed event's webhooks concurrently; each one still pending is queued for its next try at once."""
    event_fanout(event_id=event_id, recorded=schedule_retry)


@shared_task
def delivery_send_task(delivery_id: int) -> None:
    """Try a webhook delivery, with the other deliveries of its event due by now; queue the next tries.

    Receivers that failed together come back due together: one task sends them all at once, and the
    tasks of the others find them claimed and stop.
    """
    deliveries_send(delivery_ids=deliveries_due_with(delivery_id=delivery_id), recorded=schedule_retry)


@sweep
def deliveries_resume() -> None:
    """On each reconciliation: send due deliveries whose queue message was lost, one fan-out per event."""
    for event_id in set(WebhookDelivery.objects.filter(pk__in=deliveries_due()).values_list("event_id", flat=True)):
        event_fanout_task.delay(event_id)


@shared_task
def ack_reminders_task() -> None:
    """Periodic: email staff and mirror contacts about overdue acknowledgements (once a day each)."""
    deadlines.ack_reminders_send()


@shared_task
def feed_prune_task() -> None:
    """Periodic: take feed events past FEED_RETENTION_DAYS out of the feed."""
    feed_prune()
