"""Console page beside the advisories admin: per release, the models trained on it, the training samples removals
took from each, and what each owner answered. Counts by coarse category only (csam and ncii are "legal"), so any
staff role may look; the model's admin page is linked only for the roles that may open it (reviewer, admin)."""
from django.contrib import admin
from django.template.response import TemplateResponse
from django.views.decorators.http import require_safe

from apps.advisories.selectors import models_by_release
from apps.core import roles


@require_safe
def advisories_by_release_view(request):
    """GET /admin/advisories/by-release/ (admin.site.admin_view lets any staff member in)."""
    releases = models_by_release()
    return TemplateResponse(request, "admin/console/advisories_by_release.html", {
        **admin.site.each_context(request), "title": "Models by release", "releases": releases,
        "may_open_models": roles.has_role(request.user, roles.REVIEWER),
    })
