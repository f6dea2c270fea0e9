from pathlib import Path

from django.conf import settings
from django.db import models


class Dataset(models.Model):
    """A published dataset (for example laion2b-en), released in versions."""

    name = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Release(models.Model):
    """One immutable release of a dataset: its shards as imported, and the index over their samples."""

    class Status(models.TextChoices):
        INDEXING = "indexing", "Indexing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="releases")
    name = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.INDEXING, db_index=True)
    derived_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="derived",
        help_text="The release this one was made from (a filtered subset, a re-download, a reshard).",
    )
    source_path = models.CharField(max_length=1000, blank=True)
    column_map = models.JSONField(default=dict, blank=True)
    hash_images = models.BooleanField(default=True, help_text="Hash the images in the tars (md5, sha256, PDQ).")
    row_count = models.BigIntegerField(default=0)
    sample_count = models.BigIntegerField(default=0)
    image_count = models.BigIntegerField(default=0)
    shard_count = models.IntegerField(default=0)
    content_sha256 = models.CharField(max_length=64, blank=True, help_text="Digest of the imported shard files.")
    error = models.TextField(blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)
    indexed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["dataset__name", "name"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="release_unique_name")]

    def __str__(self) -> str:
        return f"{self.dataset.name}/{self.name}"

    @property
    def index_path(self) -> Path:
        return Path(settings.INDEX_DIR) / self.dataset.name / self.name


class Shard(models.Model):
    """One shard of a release: NNNNN.parquet with an optional NNNNN.tar."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="shards")
    name = models.CharField(max_length=200)
    parquet_name = models.CharField(max_length=300)
    parquet_sha256 = models.CharField(max_length=64, blank=True)
    tar_name = models.CharField(max_length=300, blank=True)
    row_count = models.BigIntegerField(default=0)
    sample_count = models.BigIntegerField(default=0)
    image_count = models.BigIntegerField(default=0)
    problems = models.JSONField(default=list, blank=True)
    indexed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["release", "name"]
        constraints = [models.UniqueConstraint(fields=["release", "name"], name="shard_unique_name")]

    def __str__(self) -> str:
        return f"{self.release}/{self.name}"
