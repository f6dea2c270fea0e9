"""A release's page with its shard heat map: removed samples per shard (/admin/datasets/release/<id>/heatmap/).

The datasets app sits below matching and blocklists, so the page that counts a release's removals is added here,
on top of its admin (apps.datasets.admin.ReleaseAdmin)."""
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.console import charts
from apps.console.overview import release_heatmap
from apps.datasets.admin import ReleaseAdmin
from apps.datasets.models import Release


class ConsoleReleaseAdmin(ReleaseAdmin):
    list_display = [*ReleaseAdmin.list_display, "heat_map"]
    fields = [*ReleaseAdmin.fields, "heat_map"]
    readonly_fields = fields

    @admin.display(description="removed samples")
    def heat_map(self, obj):
        if obj is None or obj.pk is None or obj.status != Release.Status.READY:
            return "-"
        return format_html('<a href="{}" class="heatmap-link">Shard heat map</a>',
                           reverse("admin:datasets_release_heatmap", args=[obj.pk]))

    def get_urls(self):
        view = self.admin_site.admin_view(self.heatmap_view)
        return [path("<int:pk>/heatmap/", view, name="datasets_release_heatmap"), *super().get_urls()]

    def heatmap_view(self, request, pk):
        """Removed samples per shard, for every staff role that may see the release (counts only)."""
        release = get_object_or_404(Release.objects.select_related("dataset"), pk=pk)
        if not self.has_view_permission(request, release):
            raise PermissionDenied
        heat = release_heatmap(release=release)
        return TemplateResponse(request, "admin/console/heatmap.html", {
            **self.admin_site.each_context(request), "title": f"Removed samples per shard: {release}",
            "opts": self.model._meta, "original": release, "heat": heat,
            "chart": charts.heatmap(chart_id="heatmap", title=f"Removed samples per shard of {release}",
                                    cells=heat.cells),
            "legend": [(n, charts.heat_colour(n, heat.most)) for n in _legend_values(heat.most)],
        })


def _legend_values(most: int) -> list[int]:
    return sorted({0, 1, *([most] if most else []), *([round(most ** 0.5)] if most > 3 else [])})


admin.site.unregister(Release)
admin.site.register(Release, ConsoleReleaseAdmin)
