from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from apps.tokens.models import TokenHolder


class TrustedFlagger(TokenHolder):
    """An organisation that submits removal requests in bulk over the API (a hotline, a research group)."""

    class Kind(models.TextChoices):
        HOTLINE = "hotline", "Hotline (NCMEC, IWF, C3P, ...)"
        RESEARCH = "research", "Research group"
        RIGHTS_HOLDER = "rights_holder", "Rights holder or agent"
        OTHER = "other", "Other"

    name = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    contact_email = models.EmailField(blank=True)
    active = models.BooleanField(default=True)
    # Flood quarantine limits for this flagger's requests (blank: the FLOOD_MAX_SAMPLES / FLOOD_MAX_SHARE settings).
    flood_max_samples = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)],
        help_text="Hold a request that would remove more samples than this for a reviewer (blank: FLOOD_MAX_SAMPLES).")
    flood_max_share = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0001), MaxValueValidator(100)],
        help_text="... or more than this percentage of a release (blank: FLOOD_MAX_SHARE).")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
