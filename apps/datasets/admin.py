from django.contrib import admin

from apps.core.actors import Actor
from apps.core.admin import ReadOnlyAdmin, ReadOnlyInline, ServiceAdmin
from apps.datasets.models import Dataset, Release, Shard
from apps.datasets.services import dataset_save


class ReleaseInline(ReadOnlyInline):
    model = Release
    fields = ["name", "status", "sample_count", "shard_count", "derived_from", "imported_at"]
    readonly_fields = fields
    show_change_link = True


@admin.register(Dataset)
class DatasetAdmin(ServiceAdmin):
    list_display = ["name", "title", "created_at"]
    search_fields = ["name", "title"]
    inlines = [ReleaseInline]
    fields = ["name", "title", "created_at"]
    readonly_fields = ["name", "created_at"]
    add_fields = ["name", "title"]

    def create(self, request, form):
        return dataset_save(name=form.cleaned_data["name"], title=form.cleaned_data["title"],
                            actor=Actor.for_user(request.user))

    def update(self, request, obj, form):
        return dataset_save(name=obj.name, title=form.cleaned_data["title"], dataset=obj,
                            actor=Actor.for_user(request.user))


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
