from django.contrib import admin

from apps.core.admin import ReadOnlyAdmin
from apps.matching.models import Match


@admin.register(Match)
class MatchAdmin(ReadOnlyAdmin):
    list_display = ["request", "release", "shard", "key", "identifier", "distance", "expanded"]
    list_select_related = ["request", "release__dataset", "shard", "identifier"]
    list_filter = ["expanded", "release", "request__category"]
    search_fields = ["=key", "request__tracking_id"]
    fields = ["request", "identifier", "release", "shard", "key", "distance", "expanded", "expanded_via",
              "created_at"]
    readonly_fields = fields
