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
    """One immutable release of a dataset: a set of shards as they were imported."""

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="releases")
    name = models.CharField(max_length=100)
    source_path = models.CharField(max_length=1000, blank=True)
    column_map = models.JSONField(default=dict, blank=True)
    sample_count = models.BigIntegerField(default=0)
    shard_count = models.IntegerField(default=0)
    pdq_computed = models.BooleanField(default=False, help_text="PDQ hashes were computed from the images.")
    content_sha256 = models.CharField(max_length=64, help_text="Digest of the imported shard files.")
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset__name", "name"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="release_unique_name")]

    def __str__(self) -> str:
        return f"{self.dataset.name}/{self.name}"


class Shard(models.Model):
    """One shard of a release: NNNNN.parquet with an optional NNNNN.tar."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="shards")
    name = models.CharField(max_length=200)
    parquet_name = models.CharField(max_length=300)
    parquet_sha256 = models.CharField(max_length=64)
    tar_name = models.CharField(max_length=300, blank=True)
    row_count = models.BigIntegerField(default=0)
    sample_count = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["release", "name"]
        constraints = [models.UniqueConstraint(fields=["release", "name"], name="shard_unique_name")]

    def __str__(self) -> str:
        return f"{self.release}/{self.name}"


class Sample(models.Model):
    """One sample of a release, with the identifiers removal requests can hit."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="samples")
    shard = models.ForeignKey(Shard, on_delete=models.CASCADE, related_name="samples")
    key = models.CharField(max_length=256)
    url = models.TextField(blank=True)
    # 64-bit fingerprint of the normalised URL: URLs are too long for a B-tree index.
    url_fp = models.BigIntegerField(null=True, db_index=True)
    md5 = models.CharField(max_length=32, null=True, blank=True, db_index=True)
    sha1 = models.CharField(max_length=40, null=True, blank=True, db_index=True)
    sha256 = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    pdq = models.CharField(max_length=64, null=True, blank=True)
    pdq_quality = models.SmallIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["release", "key"], name="sample_unique_key")]

    def __str__(self) -> str:
        return f"{self.release}:{self.key}"
