from django.db import models


class BlocklistVersion(models.Model):
    """A published, signed blocklist of one release: files live in the blocklists storage."""

    release = models.ForeignKey("datasets.Release", on_delete=models.PROTECT, related_name="blocklist_versions")
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    key_count = models.BigIntegerField()
    shard_count = models.IntegerField()
    # Digest of the blocked keys alone: equal content means no new version is needed.
    content_sha256 = models.CharField(max_length=64)
    manifest_sha256 = models.CharField(max_length=64)
    previous_manifest_sha256 = models.CharField(max_length=64, blank=True)
    key_id = models.CharField(max_length=32)
    path = models.CharField(max_length=500, help_text="Folder of the files in the blocklists storage.")
    requests = models.ManyToManyField("removals.RemovalRequest", related_name="blocklist_versions", blank=True)

    class Meta:
        ordering = ["release", "-version"]
        get_latest_by = "version"
        constraints = [
            models.UniqueConstraint(fields=["release", "version"], name="blocklist_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.release} v{self.version}"
