from celery import shared_task
from django.utils import timezone

from apps.mirrors.models import WebhookDelivery
from apps.mirrors.services import deliveries_due, delivery_send


@shared_task
def delivery_send_task(delivery_id: int) -> None:
    """Try a webhook delivery; schedule the next try when it is still pending."""
    delivery = delivery_send(delivery_id=delivery_id)
    if delivery is not None and delivery.status == WebhookDelivery.Status.PENDING:
        wait = max(0.0, (delivery.next_attempt_at - timezone.now()).total_seconds())
        delivery_send_task.apply_async((delivery_id,), countdown=wait)


@shared_task
def deliveries_resume_task() -> None:
    """Periodic: send due deliveries whose queue message was lost."""
    for delivery_id in deliveries_due():
        delivery_send_task.delay(delivery_id)
