from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Case, Q, Value, When
from django.template.response import TemplateResponse
from django.urls import path

from apps.audit.anchor import checkpoints_path
from apps.audit.models import AuditEvent
from apps.audit.selectors import audit_chain_verify
from apps.audit.visibility import restricted, restricted_events
from apps.core import roles
from apps.core.admin import ReadOnlyAdmin


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "acted_by", "action", "object_type", "object_repr"]
    list_filter = ["action", "object_type"]
    search_fields = ["actor_label", "object_repr", "object_id", "action"]
    date_hierarchy = "created_at"
    fields = ["created_at", "actor_label", "action", "object_type", "object_id", "object_repr", "before", "after",
              "prev_hash", "hash", "mac"]
    readonly_fields = [*fields, "details", "acted_by"]

    def get_queryset(self, request):
        # Who acted on a csam or ncii request is shown to restricted staff only.
        hidden = Value(False) if roles.has_role(request.user, roles.RESTRICTED) else Case(
            When(restricted_events(), then=Value(True)), default=Value(False), output_field=BooleanField())
        return super().get_queryset(request).annotate(actor_hidden=hidden)

    def get_search_results(self, request, queryset, search_term):
        """Staff without the restricted role do not find a csam or ncii request's events by who acted on them."""
        results, duplicates = super().get_search_results(request, queryset, search_term)
        words = search_term.split()
        if roles.has_role(request.user, roles.RESTRICTED) or not words:
            return results, duplicates
        found_otherwise = Q()
        for word in words:
            found_otherwise &= (Q(object_repr__icontains=word) | Q(object_id__icontains=word)
                                | Q(action__icontains=word))
        return results.exclude(Q(actor_hidden=True) & ~found_otherwise), duplicates

    @admin.display(description="actor", ordering="actor_label")
    def acted_by(self, obj):
        return "(restricted)" if getattr(obj, "actor_hidden", False) else obj.actor_label

    def get_urls(self):
        return [path("verify/", self.admin_site.admin_view(self.verify_view), name="audit_auditevent_verify"),
                *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_verify": roles.has_role(request.user, roles.LEGAL)}
        return super().changelist_view(request, extra_context)

    def verify_view(self, request):
        """What verify_audit says, for staff with the legal role (admins hold it too)."""
        if not roles.has_role(request.user, roles.LEGAL):
            raise PermissionDenied
        result = audit_chain_verify()
        return TemplateResponse(request, "admin/audit/verify.html", {
            **self.admin_site.each_context(request), "title": "Verify the audit trail", "opts": self.model._meta,
            "result": result, "checkpoints": checkpoints_path()})

    def get_fields(self, request, obj=None):
        """A csam or ncii request's before/after only for the restricted role; others see that it happened."""
        if obj is not None and self._restricted(obj) and not roles.has_role(request.user, roles.RESTRICTED):
            shown = {"before": "details", "actor_label": "acted_by"}
            return [shown.get(name, name) for name in self.fields if name != "after"]
        return self.fields

    @admin.display(description="before / after")
    def details(self, obj):
        return "Restricted: the details of csam and ncii requests are shown to staff with the restricted role."

    @staticmethod
    def _restricted(event: AuditEvent) -> bool:
        return event.object_id in restricted(event.object_type, [event.object_id])
