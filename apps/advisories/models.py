from django.db import models
from django.utils import timezone

from apps.tokens.models import TokenHolder


class TrainedModel(TokenHolder):
    """A machine-learning model trained on one or more releases: its owner is told when removals hit them."""

    name = models.SlugField(max_length=100, unique=True)
    owner_org = models.CharField("owner organisation", max_length=200, blank=True)
    contact_email = models.EmailField(blank=True)
    hf_repo_id = models.CharField("Hugging Face repository", max_length=200, blank=True,
                                  help_text="owner/name on huggingface.co, if the model is published there.")
    webhook_url = models.URLField(max_length=1000, blank=True)
    webhook_secret = models.CharField(max_length=100, blank=True)
    base_model = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="fine_tunes",
        help_text="The registered model this one was fine-tuned from: it inherits the base's training data.")
    public = models.BooleanField(
        default=True, help_text="Listed in the public index of models; an owner may opt out of the listing, "
                                "never of its advisories.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TrainingSet(models.Model):
    """A release a model was trained on: all of it, or a subset of its samples given by key."""

    model = models.ForeignKey(TrainedModel, on_delete=models.CASCADE, related_name="training_sets")
    release = models.ForeignKey("datasets.Release", on_delete=models.PROTECT, related_name="training_sets")
    subset_path = models.CharField(
        max_length=500, blank=True,
        help_text="File name under ADVISORY_SUBSETS_DIR of the subset's sorted key hashes; empty: the whole release.")
    subset_count = models.BigIntegerField(null=True, blank=True, help_text="Distinct sample keys in the subset.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "release"]
        constraints = [models.UniqueConstraint(fields=["model", "release"], name="training_set_unique_release")]

    def __str__(self) -> str:
        whole = "whole" if not self.subset_path else f"{self.subset_count:,} samples"
        return f"{self.model} ← {self.release} ({whole})"


class Advisory(models.Model):
    """What one blocklist version removed from a model's training data in one release, as a signed OpenVEX
    document for its owner."""

    class Status(models.TextChoices):
        AFFECTED = "affected", "Affected"
        UNDER_INVESTIGATION = "under_investigation", "Under investigation"
        FIXED = "fixed", "Fixed"
        NOT_AFFECTED = "not_affected", "Not affected"
        DEPRECATED = "deprecated", "Deprecated"

    model = models.ForeignKey(TrainedModel, on_delete=models.CASCADE, related_name="advisories")
    release = models.ForeignKey("datasets.Release", on_delete=models.PROTECT, related_name="advisories")
    blocklist = models.ForeignKey("blocklists.BlocklistVersion", on_delete=models.PROTECT, related_name="advisories",
                                  help_text="The version whose added keys hit the model's training data.")
    removed_count = models.BigIntegerField(
        help_text="Training samples of the model that version removed and that are still blocked (within its "
                  "subset when it has one).")
    # Coarse category -> samples; csam and ncii are counted together as "legal".
    categories = models.JSONField(default=dict)
    fixed_in = models.CharField(max_length=200, help_text="The first release or blocklist version without them.")
    deadline = models.DateTimeField(help_text="When the owner should have answered, by the most urgent category.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.AFFECTED, db_index=True)
    document = models.BinaryField(help_text="The signed OpenVEX document: canonical JSON bytes.")
    signature = models.CharField(max_length=200, help_text="Base64 Ed25519 signature of the document.")
    key_id = models.CharField(max_length=32)
    document_version = models.PositiveIntegerField(default=1, help_text="Raised each time the document is re-signed.")
    # The owner's answer (apps.advisories.answers): what the document states beside its status.
    answer_justification = models.CharField(max_length=60, blank=True,
                                            help_text="The OpenVEX justification of a not_affected answer.")
    answer_retrained_on = models.ForeignKey(
        "datasets.Release", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="The release a fixed model was retrained on.")
    answer_note = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    # The document versions the owner was told of (apps.advisories.notify): each channel once per version.
    emailed_version = models.PositiveIntegerField(default=0)
    webhooked_version = models.PositiveIntegerField(default=0)
    escalated_at = models.DateTimeField(null=True, blank=True,
                                        help_text="When staff were told it went unanswered past its deadline.")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "advisories"
        constraints = [models.UniqueConstraint(fields=["model", "release", "blocklist"], name="advisory_once")]

    def __str__(self) -> str:
        return self.advisory_id

    @property
    def advisory_id(self) -> str:
        release = self.release
        return f"TD-ADV-{self.model.name}-{release.dataset.name}-{release.name}-v{self.blocklist.version}"
