from django.contrib import admin
from django.db.models import Count, Q

from apps.blocklists.models import BlocklistVersion
from apps.core.admin import ReadOnlyAdmin


@admin.register(BlocklistVersion)
class BlocklistVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "key_count", "shard_count", "created_at", "expires_at", "applied_by"]
    list_filter = ["release"]
    fields = ["release", "version", "created_at", "expires_at", "key_count", "shard_count", "content_sha256",
              "manifest_sha256", "previous_manifest_sha256", "key_id", "path", "requests"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("release__dataset").annotate(
            applied_n=Count("acknowledgements", filter=Q(acknowledgements__status="applied"))
        )

    @admin.display(description="mirrors applied", ordering="applied_n")
    def applied_by(self, obj):
        return obj.applied_n
