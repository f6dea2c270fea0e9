from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class BlocklistVersion(models.Model):
    """A published, signed blocklist of one release: files live in the blocklists storage."""

    release = models.ForeignKey("datasets.Release", on_delete=models.PROTECT, related_name="blocklist_versions")
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    key_count = models.BigIntegerField(help_text="Keys blocked by removal requests (decoys not counted).")
    decoy_count = models.BigIntegerField(
        default=0, help_text="Decoy keys in the files besides those (the manifest's total_keys counts both).")
    shard_count = models.IntegerField()
    # Digest of the keys in the files alone: equal content means no new version is needed.
    content_sha256 = models.CharField(max_length=64)
    manifest_sha256 = models.CharField(max_length=64)
    previous_manifest_sha256 = models.CharField(max_length=64, blank=True)
    key_id = models.CharField(max_length=32)
    path = models.CharField(max_length=500, help_text="Folder of the files in the blocklists storage.")
    requests = models.ManyToManyField("removals.RemovalRequest", related_name="blocklist_versions", blank=True)
    # The delta against the version before, decoys included, as the manifest says (a release's first version
    # has no base and no delta section: every key counts as added).
    delta_base_version = models.PositiveIntegerField(null=True, blank=True)
    added_keys = models.BigIntegerField(default=0)
    removed_keys = models.BigIntegerField(default=0)
    decoys_added = models.BigIntegerField(default=0, help_text="Of the added keys, how many are decoys.")
    refresh = models.BooleanField(
        default=False, help_text="Published only to renew the expiry: the same keys as the version before.")

    class Meta:
        ordering = ["release", "-version"]
        get_latest_by = "version"
        constraints = [
            models.UniqueConstraint(fields=["release", "version"], name="blocklist_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.release} v{self.version}"

    @property
    def total_keys(self) -> int:
        """Keys in the published files, decoys included: what mirrors see."""
        return self.key_count + self.decoy_count


class DecoyPool(models.Model):
    """Benign keys of a release that may pad the blocklist when sensitive keys are added.

    The host drops these samples from its own copy too (low-quality samples, for
    example): once drawn into a version a decoy stays blocked for good.
    """

    release = models.OneToOneField("datasets.Release", on_delete=models.PROTECT, related_name="decoy_pool")
    padding_ratio = models.DecimalField(
        max_digits=5, decimal_places=2, default=0, validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Decoys added per sensitive (csam, ncii) key a version adds, rounded up; 0 turns padding off.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["release"]

    def __str__(self) -> str:
        return f"decoy pool of {self.release}"


class DecoyKey(models.Model):
    pool = models.ForeignKey(DecoyPool, on_delete=models.PROTECT, related_name="keys")
    shard = models.ForeignKey("datasets.Shard", on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=256)
    added_at = models.DateTimeField(auto_now_add=True)
    drawn_in = models.ForeignKey(BlocklistVersion, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="decoys", help_text="The version that first published it.")

    class Meta:
        ordering = ["pool", "key"]
        constraints = [models.UniqueConstraint(fields=["pool", "key"], name="decoy_unique_key")]

    def __str__(self) -> str:
        return f"decoy {self.key}"
