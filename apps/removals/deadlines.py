"""Deadlines: which requests are due soon or overdue, and the reminders staff get about them."""
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core import mail
from apps.removals.models import OPEN_STATUSES, Policy, Reminder, RemovalRequest, Status

# Still owing a decision or a publication: the clock runs until the samples leave distribution.
WAITING = (*OPEN_STATUSES, Status.APPROVED)


def requests_overdue():
    """Requests past their deadline and still waiting, oldest deadline first."""
    return RemovalRequest.objects.filter(status__in=WAITING, due_at__lt=timezone.now()).order_by("due_at")


def requests_due_soon():
    """Requests due within Policy.soon_due_hours and still waiting."""
    now = timezone.now()
    horizon = now + timedelta(hours=Policy.current().soon_due_hours)
    return RemovalRequest.objects.filter(status__in=WAITING, due_at__gte=now, due_at__lt=horizon).order_by("due_at")


def staff_addresses() -> list[str]:
    """Who gets staff emails: the policy's reminder addresses, else every active staff user with an email."""
    configured = [line.strip() for line in Policy.current().reminder_emails.splitlines() if line.strip()]
    if configured:
        return configured
    users = get_user_model().objects.filter(is_active=True, is_staff=True).exclude(email="")
    return sorted(set(users.values_list("email", flat=True)))


def reminders_send() -> int:
    """Email staff about overdue and soon-due requests, once a day each; returns how many were reminded of.

    The message carries tracking ids, categories and deadlines only: never an
    identifier, so it can go to any staff address.
    """
    today = timezone.localdate()
    lines = []
    # One transaction: if the mail cannot go out, no reminder is recorded and the next run retries.
    with transaction.atomic():
        for kind, requests in ((Reminder.Kind.OVERDUE, requests_overdue()), (Reminder.Kind.SOON, requests_due_soon())):
            for request in requests:
                try:
                    with transaction.atomic():
                        Reminder.objects.create(request=request, kind=kind, day=today)
                except IntegrityError:
                    continue  # already reminded today
                lines.append(f"{Reminder.Kind(kind).label}: {request.tracking_id} ({request.get_category_display()}), "
                             f"{request.get_status_display().lower()}, due {request.due_at:%Y-%m-%d %H:%M} UTC")
        if lines and not mail.send(to=staff_addresses(),
                                   subject=f"Takedown: {len(lines)} removal request(s) need attention",
                                   body="\n".join(lines) + "\n"):
            transaction.set_rollback(True)  # no address, or the mail server refused: try again next run
            return 0
    return len(lines)
