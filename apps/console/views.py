"""Console pages beside the model admin: Lookup."""
from django.contrib import admin
from django.template.response import TemplateResponse

from apps.console.selectors import MAX_LOOKUP_LENGTH, lookup


def lookup_view(request):
    """GET /admin/lookup/?q=...: is this covered? Any staff role may ask (admin.site.admin_view lets staff in)."""
    q = request.GET.get("q")
    found = lookup(q=q, user=request.user) if q is not None else None
    return TemplateResponse(request, "admin/console/lookup.html", {
        **admin.site.each_context(request), "title": "Lookup", "q": q or "", "found": found,
        "max_length": MAX_LOOKUP_LENGTH,
    })
