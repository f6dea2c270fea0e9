from django.db import models

from apps.tokens.models import TokenHolder


class Mirror(TokenHolder):
    """A downstream copy of one or more datasets, that pulls blocklists and acknowledges them."""

    name = models.SlugField(max_length=100, unique=True)
    contact_email = models.EmailField(blank=True)
    webhook_url = models.URLField(max_length=1000, blank=True)
    webhook_secret = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True)
    # Why and when it stopped: webhook failures (re-enabled by staff) or a revocation (final).
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # Deliveries ended failed in a row; reset by a delivered one or by re-enabling.
    consecutive_failures = models.IntegerField(default=0)
    datasets = models.ManyToManyField("datasets.Dataset", through="Subscription", related_name="mirrors")
    # The releases of its datasets it serves. None recorded: not known, so it is counted against every release of
    # the datasets it subscribes to (docs/mirror-operations.md).
    releases = models.ManyToManyField(
        "datasets.Release", blank=True, related_name="held_by",
        help_text="Releases of its datasets it serves; none recorded counts it against every release of them.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Subscription(models.Model):
    mirror = models.ForeignKey(Mirror, on_delete=models.CASCADE, related_name="subscriptions")
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.CASCADE, related_name="subscriptions")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mirror", "dataset"], name="subscription_unique")]

    def __str__(self) -> str:
        return f"{self.mirror} ← {self.dataset}"


class FeedEvent(models.Model):
    """An entry of the mirror feed; its id is the feed's monotonic cursor."""

    class Type(models.TextChoices):
        BLOCKLIST_PUBLISHED = "blocklist.published", "Blocklist published"

    type = models.CharField(max_length=50, choices=Type.choices)
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.PROTECT, related_name="feed_events")
    release = models.ForeignKey("datasets.Release", on_delete=models.PROTECT, related_name="feed_events")
    blocklist = models.ForeignKey(
        "blocklists.BlocklistVersion", on_delete=models.PROTECT, related_name="feed_events"
    )
    payload = models.JSONField()
    created_at = models.DateTimeField()
    # Out of the feed's retention window: no longer served, kept as the record that mirrors were
    # notified (transparency reports and the recipients list of a request read it).
    pruned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        # A version is announced once, however often its blocklist.published handler runs.
        constraints = [models.UniqueConstraint(fields=["blocklist"], name="feed_event_once_per_version")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type} {self.release}"


class Acknowledgement(models.Model):
    """What a mirror reported after trying to apply a blocklist version."""

    class Status(models.TextChoices):
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Failed"

    mirror = models.ForeignKey(Mirror, on_delete=models.CASCADE, related_name="acknowledgements")
    blocklist = models.ForeignKey(
        "blocklists.BlocklistVersion", on_delete=models.PROTECT, related_name="acknowledgements"
    )
    status = models.CharField(max_length=10, choices=Status.choices)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [models.UniqueConstraint(fields=["mirror", "blocklist"], name="ack_unique")]

    def __str__(self) -> str:
        return f"{self.mirror} {self.status} {self.blocklist}"


class WebhookDelivery(models.Model):
    """One feed event to send to one mirror's webhook (the outbox row)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    mirror = models.ForeignKey(Mirror, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(FeedEvent, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempt_count = models.IntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["mirror", "event"], name="delivery_unique")]

    def __str__(self) -> str:
        return f"{self.event} → {self.mirror}"


class WebhookAttempt(models.Model):
    """One try at a delivery: recorded before sending, completed with its outcome."""

    class Status(models.TextChoices):
        SENDING = "sending", "Sending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempts")
    started_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SENDING)
    status_code = models.IntegerField(null=True, blank=True)
    duration_ms = models.IntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    response_excerpt = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["-id"]


class AckReminder(models.Model):
    """An overdue acknowledgement reported to staff and the mirror: at most once a day per version and level."""

    mirror = models.ForeignKey(Mirror, on_delete=models.CASCADE, related_name="ack_reminders")
    blocklist = models.ForeignKey("blocklists.BlocklistVersion", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    escalated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["mirror", "blocklist", "day", "escalated"],
                                               name="ack_reminder_once_a_day")]


class FeedRetention(models.Model):
    """The feed's floor: the highest event id pruned; a cursor below it must resync (one row, pk=1)."""

    floor = models.BigIntegerField(default=0)
    pruned_at = models.DateTimeField(null=True, blank=True)
    pruned_count = models.BigIntegerField(default=0, help_text="Events pruned in all.")

    @classmethod
    def current(cls) -> "FeedRetention":
        return cls.objects.get_or_create(pk=1)[0]
