from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView

from apps.blocklists.api.views import SigningKeysView
from apps.console.models_admin import advisories_by_release_view
from apps.console.views import lookup_view

# JSON under /api/ (apps.core.api.exceptions), Django's pages elsewhere.
handler400 = "apps.core.api.exceptions.bad_request"
handler404 = "apps.core.api.exceptions.not_found"

admin.site.site_header = "Takedown"
admin.site.site_title = "Takedown"
admin.site.index_title = "Removal requests, datasets and mirrors"

urlpatterns = [
    # The public landing page: who runs this host and what it is for, with the way to every public page.
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("admin/lookup/", admin.site.admin_view(lookup_view), name="lookup"),
    path("admin/advisories/by-release/", admin.site.admin_view(advisories_by_release_view),
         name="advisories-by-release"),
    path("admin/", admin.site.urls),
    path("account/", include("apps.accounts.urls")),
    path("api/v1/mirror/", include("apps.mirrors.api.urls")),
    path("api/v1/match/", include("apps.matching.api.urls")),
    path("api/v1/flagger/", include("apps.intake.api.urls")),
    path("api/v1/models/", include("apps.advisories.api.urls")),
    path("transparency/", include("apps.transparency.urls")),
    path("advisories/", include("apps.advisories.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("report/", include("apps.intake.urls")),
    path(".well-known/takedown/signing-keys.json", SigningKeysView.as_view(), name="signing-keys"),
]
