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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
