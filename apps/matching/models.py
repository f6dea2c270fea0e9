from django.db import models


class Match(models.Model):
    """A sample of a release that an identifier of a request hits."""

    request = models.ForeignKey("removals.RemovalRequest", on_delete=models.CASCADE, related_name="matches")
    identifier = models.ForeignKey("removals.Identifier", on_delete=models.CASCADE, related_name="matches")
    release = models.ForeignKey("datasets.Release", on_delete=models.PROTECT, related_name="matches")
    shard = models.ForeignKey("datasets.Shard", on_delete=models.PROTECT, related_name="matches")
    key = models.CharField(max_length=256)
    distance = models.SmallIntegerField(default=0, help_text="Hamming distance for PDQ; 0 for exact hits.")
    expanded = models.BooleanField(
        default=False, help_text="Reached through the same image hash as a URL or key hit, not directly."
    )
    expanded_via = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["release", "shard", "key"]
        verbose_name_plural = "matches"
        constraints = [
            models.UniqueConstraint(fields=["identifier", "release", "key"], name="match_unique_sample")
        ]
        indexes = [models.Index(fields=["release", "request"], name="match_release_request")]

    def __str__(self) -> str:
        return f"{self.release}:{self.key}"


class AllowListEntry(models.Model):
    """A known false positive: an identifier, or one sample, that matching leaves alone."""

    class Scope(models.TextChoices):
        IDENTIFIER = "identifier", "Identifier (everywhere)"
        SAMPLE = "sample", "Sample (one key of one release)"

    scope = models.CharField(max_length=12, choices=Scope.choices)
    kind = models.CharField(max_length=10, blank=True, help_text="For an identifier: its kind.")
    value = models.TextField(blank=True, help_text="For an identifier: its normalised value.")
    release = models.ForeignKey("datasets.Release", null=True, blank=True, on_delete=models.PROTECT,
                                related_name="allow_list")
    key = models.CharField(max_length=256, blank=True, help_text="For a sample: its key in the release.")
    reason = models.TextField()
    created_by_label = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by_label = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "allow-list entry"
        verbose_name_plural = "allow-list"
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], condition=models.Q(scope="identifier", revoked_at=None),
                                    name="allow_list_unique_identifier"),
            models.UniqueConstraint(fields=["release", "key"], condition=models.Q(scope="sample", revoked_at=None),
                                    name="allow_list_unique_sample"),
        ]

    def __str__(self) -> str:
        if self.scope == self.Scope.SAMPLE:
            return f"sample {self.release}:{self.key}"
        return f"{self.kind} {self.value[:80]}"
