"""Admin pages of the removals stage's own records; a request's page, which shows what later stages know of
it, is the console's (apps.console)."""
from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse

from apps.core import roles
from apps.core.actors import Actor
from apps.core.admin import ReadOnlyAdmin, ServiceAdmin
from apps.removals.models import CounterNotice, Policy
from apps.removals.services import policy_update


@admin.register(CounterNotice)
class CounterNoticeAdmin(ReadOnlyAdmin):
    list_display = ["request", "counter_party", "received_at", "restore_not_before", "restore_by", "lawsuit_at",
                    "restored_at"]
    list_filter = [("lawsuit_at", admin.EmptyFieldListFilter), ("restored_at", admin.EmptyFieldListFilter)]
    fields = list_display + ["statement", "lawsuit_reference"]
    readonly_fields = fields


@admin.register(Policy)
class PolicyAdmin(ServiceAdmin):
    """The review policy: one row, admins only, every change audited."""

    fields = ["csam_second_reviewer", "csam_approve_from_hotlines", "opt_out_review", "csam_due_hours",
              "soon_due_hours", "legal_hold_days", "reminder_emails"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return roles.has_role(request.user, roles.ADMIN)

    def has_view_permission(self, request, obj=None):
        return roles.has_role(request.user, roles.INTAKE)

    def changelist_view(self, request, extra_context=None):
        policy = Policy.current()
        return HttpResponseRedirect(reverse("admin:removals_policy_change", args=[policy.pk]))

    def update(self, request, obj, form):
        return policy_update(actor=Actor.for_user(request.user),
                             **{name: form.cleaned_data[name] for name in self.fields})
