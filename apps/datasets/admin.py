from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin, ReadOnlyInline
from apps.datasets.models import Dataset, Release, Shard


class ReleaseInline(ReadOnlyInline):
    model = Release
    fields = ["name", "status", "sample_count", "shard_count", "derived_from", "imported_at"]
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
    fields = ["name", "parquet_name", "tar_name", "row_count", "sample_count", "image_count", "indexed_at",
              "parquet_sha256"]
    readonly_fields = fields


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "status", "sample_count", "shard_count", "image_count", "derived_from", "indexed_at"]
    list_filter = ["status", "dataset"]
    search_fields = ["name", "dataset__name"]
    fields = ["dataset", "name", "status", "error", "derived_from", "source_path", "column_map", "row_count",
              "sample_count", "image_count", "shard_count", "content_sha256", "imported_at", "indexed_at"]
    readonly_fields = fields
    inlines = [ShardInline]
