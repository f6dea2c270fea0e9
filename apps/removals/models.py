from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.core import pdq
from apps.core.categories import Category
from apps.core.identifiers import KIND_CHOICES


class Status(models.TextChoices):
    RECEIVED = "received", "Received"
    TRIAGE = "triage", "In triage"
    NEEDS_INFO = "needs_info", "Needs information"
    APPROVED = "approved", "Approved (publishing)"
    REJECTED = "rejected", "Rejected"
    PUBLISHED = "published", "Published"
    COMPLETED = "completed", "Completed"
    REINSTATED = "reinstated", "Reinstated"


class Channel(models.TextChoices):
    WEB_FORM = "web_form", "Public web form"
    FLAGGER_API = "flagger_api", "Trusted-flagger API"
    STAFF = "staff", "Staff (admin)"
    CLI = "cli", "Command line"




# Statuses whose matches belong on the blocklists.
BLOCKING_STATUSES = (Status.APPROVED, Status.PUBLISHED, Status.COMPLETED)
# Statuses a reviewer may approve from.
OPEN_STATUSES = (Status.RECEIVED, Status.TRIAGE, Status.NEEDS_INFO)


class RemovalRequest(models.Model):
    """A request to remove content from every release and every mirror."""

    tracking_id = models.CharField(max_length=20, unique=True)
    category = models.CharField(max_length=20, choices=Category.choices, db_index=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED, db_index=True)
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.STAFF, db_index=True)
    flagger = models.ForeignKey("intake.TrustedFlagger", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="requests")
    source = models.CharField(max_length=200, blank=True, help_text="Channel or organisation it came from.")
    reference = models.CharField(max_length=200, blank=True, help_text="The requester's own reference.")
    received_at = models.DateTimeField(db_index=True)
    due_at = models.DateTimeField(db_index=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_by_label = models.CharField(max_length=200, blank=True)
    # Who on the team is working on it (the queue's "assigned to me"); changed with request_assign, audited.
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="assigned_requests")
    matched_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)
    # Who asked (personal data: shown to staff who may see the category, never published).
    requester_name = models.CharField(max_length=200, blank=True)
    requester_email = models.EmailField(blank=True)
    requester_details = models.JSONField(default=dict, blank=True)
    # A requester checks the status with the tracking id and this secret (kept as a hash).
    status_secret_hash = models.CharField(max_length=64, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True, help_text="When it was approved or rejected.")
    decision_reason = models.TextField(blank=True)
    reinstated_at = models.DateTimeField(null=True, blank=True)
    legal_hold_until = models.DateField(
        null=True, blank=True, help_text="The record, identifiers and report ids are kept at least until then.")
    # What the request applies to: every release of every dataset (both blank), every release of one dataset,
    # or one release. Sample keys are positional, so a request naming keys always has a dataset.
    dataset = models.ForeignKey("datasets.Dataset", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+", help_text="Only this dataset's releases (blank: every dataset).")
    release = models.ForeignKey("datasets.Release", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+", help_text="Only this release of the dataset (blank: all of them).")
    pdq_threshold = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(pdq.MAX_THRESHOLD)],
        help_text="PDQ Hamming distance for this request's matches (blank: the PDQ_MATCH_THRESHOLD setting, 31).",
    )
    # Flood quarantine: matching found it would remove more than its limits (apps.removals.policy.flood_limits);
    # it waits for a reviewer, whose approval releases it.
    flood_held_at = models.DateTimeField(null=True, blank=True, help_text="When matching held it for a reviewer.")
    flood_samples = models.PositiveIntegerField(null=True, blank=True,
                                                help_text="Samples it would remove, when it was held.")
    flood_detail = models.CharField(max_length=500, blank=True, help_text="Why it was held, with the counts.")
    flood_released_at = models.DateTimeField(null=True, blank=True)
    flood_released_by_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = "removal request"

    def __str__(self) -> str:
        return f"{self.tracking_id} ({self.category})"

    @property
    def flood_held(self) -> bool:
        """Held by the flood check, and not yet released by a reviewer's approval."""
        return self.flood_held_at is not None and self.flood_released_at is None

    @property
    def scope(self) -> str:
        """What the request applies to, in words: a release, a dataset's releases, or every dataset."""
        if self.release_id:
            return str(self.release)
        if self.dataset_id:
            return f"{self.dataset.name} (every release)"
        return "every dataset"


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


class Approval(models.Model):
    """One reviewer's approval: csam requests may need two, from different people (policy)."""

    request = models.ForeignKey(RemovalRequest, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    actor_label = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["request", "actor_label"], name="approval_once_per_reviewer")]


class HotlineReport(models.Model):
    """The report a csam request was (or must be) filed with: 18 USC 2258A and its equivalents."""

    class Hotline(models.TextChoices):
        NCMEC = "ncmec", "NCMEC CyberTipline"
        IWF = "iwf", "Internet Watch Foundation"
        C3P = "c3p", "Canadian Centre for Child Protection"
        OTHER = "other", "Other"

    request = models.OneToOneField(RemovalRequest, on_delete=models.CASCADE, related_name="hotline_report")
    hotline = models.CharField(max_length=10, choices=Hotline.choices)
    hotline_name = models.CharField(max_length=200, blank=True, help_text="For another hotline: its name.")
    report_id = models.CharField(max_length=200)
    reported_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.get_hotline_display()} report {self.report_id}"


class DmcaNotice(models.Model):
    """The six elements of 17 USC 512(c)(3)(A); a notice missing any is sent back as incomplete."""

    request = models.OneToOneField(RemovalRequest, on_delete=models.CASCADE, related_name="dmca_notice")
    signature = models.CharField(max_length=300, blank=True, help_text="(i) physical or electronic signature")
    copyrighted_work = models.TextField(blank=True, help_text="(ii) the work claimed to be infringed")
    infringing_material = models.TextField(blank=True, help_text="(iii) the material and where it is")
    contact = models.TextField(blank=True, help_text="(iv) address, telephone number or email")
    good_faith = models.BooleanField(default=False, help_text="(v) good-faith belief the use is not authorised")
    accurate_under_penalty = models.BooleanField(
        default=False, help_text="(vi) accurate, and authorised to act, under penalty of perjury")
    created_at = models.DateTimeField(auto_now_add=True)

    ELEMENTS = (
        ("signature", "a signature"),
        ("copyrighted_work", "identification of the copyrighted work"),
        ("infringing_material", "identification and location of the infringing material"),
        ("contact", "contact information"),
        ("good_faith", "a statement of good-faith belief"),
        ("accurate_under_penalty", "a statement of accuracy and authority under penalty of perjury"),
    )

    def missing(self) -> list[str]:
        """The elements this notice lacks, by name as the statute gives them."""
        return [label for field, label in self.ELEMENTS if not (
            getattr(self, field).strip() if isinstance(getattr(self, field), str) else getattr(self, field))]


class CounterNotice(models.Model):
    """A 512(g) counter-notice: the removal is undone 10 to 14 business days later unless a lawsuit is filed."""

    request = models.ForeignKey(RemovalRequest, on_delete=models.CASCADE, related_name="counter_notices")
    received_at = models.DateTimeField()
    counter_party = models.CharField(max_length=300)
    statement = models.TextField(blank=True)
    restore_not_before = models.DateField(help_text="10 business days after receipt")
    restore_by = models.DateField(help_text="14 business days after receipt")
    lawsuit_at = models.DateTimeField(null=True, blank=True)
    lawsuit_reference = models.CharField(max_length=300, blank=True)
    restored_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]


class ErasureExtension(models.Model):
    """GDPR Art. 12(3): up to two more months, with the reasons recorded within the first month."""

    request = models.OneToOneField(RemovalRequest, on_delete=models.CASCADE, related_name="erasure_extension")
    months = models.PositiveSmallIntegerField()
    reason = models.TextField()
    recorded_by_label = models.CharField(max_length=200)
    recorded_at = models.DateTimeField(auto_now_add=True)


class DomainClaim(models.Model):
    """An opt-out's proof of control of a domain: a token the requester publishes on it."""

    request = models.ForeignKey(RemovalRequest, on_delete=models.CASCADE, related_name="domain_claims")
    domain = models.CharField(max_length=253)
    token = models.CharField(max_length=64)
    verified_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request", "domain"], name="domain_claim_once")]


class Reminder(models.Model):
    """A deadline reminder sent to staff, so the same one is not sent twice a day."""

    class Kind(models.TextChoices):
        SOON = "soon", "Due soon"
        OVERDUE = "overdue", "Overdue"

    request = models.ForeignKey(RemovalRequest, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    day = models.DateField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["request", "kind", "day"], name="reminder_once_a_day")]


class Policy(models.Model):
    """The host's review policy, edited by admins; every change is audited. One row."""

    class OptOutReview(models.TextChoices):
        ALWAYS = "always", "Always reviewed"
        UNLESS_PROVEN = "unless_proven", "Approved without review when the requester proves the domain"
        NEVER = "never", "Never reviewed (approved on receipt)"

    csam_second_reviewer = models.BooleanField(
        default=False, help_text="A csam request needs the approval of two different reviewers.")
    csam_approve_from_hotlines = models.BooleanField(
        default=True, help_text="A csam request from a trusted hotline is approved on receipt.")
    opt_out_review = models.CharField(max_length=20, choices=OptOutReview.choices,
                                      default=OptOutReview.UNLESS_PROVEN)
    soon_due_hours = models.PositiveIntegerField(default=24, help_text="Remind staff this long before a deadline.")
    # 18 USC 2258A asks for "as soon as reasonably possible", not a number: hosts work to a deadline of hours.
    csam_due_hours = models.PositiveIntegerField(
        default=24, validators=[MinValueValidator(1), MaxValueValidator(48)],
        help_text="A csam request is due this many hours after receipt (report and remove without delay: at most "
                  "48, the ncii window).")
    legal_hold_days = models.PositiveIntegerField(
        default=365, validators=[MinValueValidator(365)],
        help_text="Keep csam records at least this long (REPORT Act: one year).")
    reminder_emails = models.TextField(blank=True, help_text="Who gets deadline reminders, one address a line "
                                                            "(empty: every active staff user with an email).")

    class Meta:
        verbose_name_plural = "policy"

    def __str__(self) -> str:
        return "Review policy"

    @classmethod
    def current(cls) -> "Policy":
        return cls.objects.get_or_create(pk=1)[0]
