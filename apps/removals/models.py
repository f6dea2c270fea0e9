from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models

from apps.core.identifiers import KIND_CHOICES


class Category(models.TextChoices):
    CSAM = "csam", "Child sexual abuse material"
    NCII = "ncii", "Non-consensual intimate imagery"
    COPYRIGHT = "copyright", "Copyright"
    PRIVACY = "privacy", "Privacy (GDPR erasure)"
    OPT_OUT = "opt_out", "Opt-out"
    OTHER = "other", "Other"


class Status(models.TextChoices):
    RECEIVED = "received", "Received"
    TRIAGE = "triage", "In triage"
    NEEDS_INFO = "needs_info", "Needs information"
    APPROVED = "approved", "Approved (publishing)"
    REJECTED = "rejected", "Rejected"
    PUBLISHED = "published", "Published"
    COMPLETED = "completed", "Completed"
    REINSTATED = "reinstated", "Reinstated"


# Beyond this a PDQ "match" says little, and the multi-index search gets slow.
PDQ_MAX_THRESHOLD = 64

# Statuses whose matches belong on the blocklists.
BLOCKING_STATUSES = (Status.APPROVED, Status.PUBLISHED, Status.COMPLETED)
# Statuses a reviewer may approve from.
OPEN_STATUSES = (Status.RECEIVED, Status.TRIAGE, Status.NEEDS_INFO)


class RemovalRequest(models.Model):
    """A request to remove content from every release and every mirror."""

    tracking_id = models.CharField(max_length=20, unique=True)
    category = models.CharField(max_length=20, choices=Category.choices, db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    source = models.CharField(max_length=200, blank=True, help_text="Channel or organisation it came from.")
    reference = models.CharField(max_length=200, blank=True, help_text="The requester's own reference.")
    received_at = models.DateTimeField(db_index=True)
    due_at = models.DateTimeField(db_index=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by_label = models.CharField(max_length=200, blank=True)
    matched_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)
    pdq_threshold = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(PDQ_MAX_THRESHOLD)],
        help_text="PDQ Hamming distance for this request's matches (blank: the PDQ_MATCH_THRESHOLD setting, 31).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = "removal request"

    def __str__(self) -> str:
        return f"{self.tracking_id} ({self.category})"


class Identifier(models.Model):
    """One URL, key or hash named by a request, normalised."""

    request = models.ForeignKey(RemovalRequest, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=10, choices=KIND_CHOICES)
    value = models.TextField()
    line = models.IntegerField(null=True, blank=True, help_text="Line of the submitted file.")
    match_count = models.IntegerField(default=0)

    class Meta:
        ordering = ["request", "line", "id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "kind", "value"], name="identifier_unique_per_request")
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.value[:80]}"
