"""What every holder of an API token stores (mirrors, trusted flaggers, and staff API tokens next)."""
from django.db import models


class TokenHolder(models.Model):
    """The token's digest and first characters (never the token), and when it was revoked or last used."""

    token_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the API token.")
    token_prefix = models.CharField(max_length=20, help_text="First characters of the token, to recognise it.")
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="Revoked for good: no token works again.")
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
