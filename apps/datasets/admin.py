from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin, ReadOnlyInline
from apps.datasets.models import Dataset, Release, Sample, Shard


class ReleaseInline(ReadOnlyInline):
    model = Release
    fields = ["name", "sample_count", "shard_count", "imported_at"]
    readonly_fields = fields
    show_change_link = True


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "title", "created_at"]
    search_fields = ["name", "title"]
    inlines = [ReleaseInline]

    def get_readonly_fields(self, request, obj=None):
        return ["name"] if obj else []


class ShardInline(ReadOnlyInline):
    model = Shard
    fields = ["name", "parquet_name", "tar_name", "row_count", "sample_count", "parquet_sha256"]
    readonly_fields = fields


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "sample_count", "shard_count", "pdq_computed", "imported_at"]
    list_filter = ["dataset"]
    search_fields = ["name", "dataset__name"]
    fields = ["dataset", "name", "source_path", "column_map", "sample_count", "shard_count", "pdq_computed",
              "content_sha256", "imported_at"]
    readonly_fields = fields
    inlines = [ShardInline]


@admin.register(Sample)
class SampleAdmin(ReadOnlyAdmin):
    list_display = ["key", "release", "shard", "url"]
    list_select_related = ["release__dataset", "shard"]
    list_filter = ["release"]
    search_fields = ["=key", "=sha256", "=md5", "=sha1"]
    show_full_result_count = False
    fields = ["release", "shard", "key", "url", "md5", "sha1", "sha256", "pdq", "pdq_quality"]
    readonly_fields = fields
