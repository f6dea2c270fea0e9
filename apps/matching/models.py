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
