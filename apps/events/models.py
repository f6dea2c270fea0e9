"""The event outbox: what happened, and each subscriber's handling of it."""
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Event(models.Model):
    """Something that happened, recorded in the same transaction as the change itself.

    The payload holds ids and counts only (never an identifier, a URL or a
    requester's data), so the outbox can be shown to any staff member.
    """

    name = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField(default=dict, blank=True)
    # An event recorded again under the same (name, key) is the same event: a handler that runs twice
    # after a crash does not cause its consequences twice.
    key = models.CharField(max_length=200, blank=True)
    # The event whose handler recorded this one, if any: the chain of consequences of a change.
    cause = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="effects")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["name", "key"], condition=~Q(key=""),
                                               name="event_once_per_key")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name}"


class HandlerRun(models.Model):
    """One subscriber's handling of one event: claimed by a worker, retried with backoff, done or dead.

    A worker claims a due run with a conditional update and holds it under a
    lease that it renews while the handler runs; a run whose lease lapsed
    belongs to a worker that died, and the reconciler hands it out again.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        DEAD = "dead", "Dead (needs staff)"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="runs")
    handler = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Times a worker started it.")
    due_at = models.DateTimeField(default=timezone.now, help_text="When its next try may start.")
    # A queue message for it may be lost (a broker that restarted without its data): while it is still
    # pending at redispatch_at, the reconciler sends another, after a wait that doubles with each one sent.
    redispatch_at = models.DateTimeField(null=True, blank=True)
    dispatches = models.PositiveIntegerField(default=0, help_text="Queue messages sent for it.")
    lease_until = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="The process that last claimed it.")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = "handler run"
        constraints = [models.UniqueConstraint(fields=["event", "handler"], name="handler_run_once_per_event")]
        indexes = [models.Index(fields=["status", "due_at"], name="handler_run_status_due")]

    def __str__(self) -> str:
        return f"{self.handler} of {self.event_id}"


class Heartbeat(models.Model):
    """The last sign of life of a background process: each worker every few seconds, and the scheduler."""

    class Kind(models.TextChoices):
        WORKER = "worker", "Worker"
        SCHEDULER = "scheduler", "Scheduler (beat)"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=200, unique=True)
    pid = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True, help_text="Set when it shut down cleanly.")

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name
