from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Count
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.audit.selectors import audit_events_for
from apps.core.actors import Actor
from apps.core.admin import CreateThroughServiceAdmin
from apps.core.errors import TakedownError
from apps.matching.selectors import request_matches_grouped
from apps.removals.models import OPEN_STATUSES, Identifier, RemovalRequest
from apps.removals.parsing import parse_identifiers_csv
from apps.removals.services import request_approve_later, request_create


class DueFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("today", "Due within 24 hours")]

    def queryset(self, request, queryset):
        now = timezone.now()
        open_ = queryset.filter(status__in=OPEN_STATUSES)
        if self.value() == "overdue":
            return open_.filter(due_at__lt=now)
        if self.value() == "today":
            return open_.filter(due_at__gte=now, due_at__lt=now + timedelta(hours=24))
        return queryset


class IdentifierInline(admin.TabularInline):
    model = Identifier
    fields = ["line", "kind", "value", "match_count"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False


class RemovalRequestAddForm(forms.ModelForm):
    identifiers_csv = forms.CharField(
        label="Identifiers",
        widget=forms.Textarea(attrs={"rows": 8, "cols": 90, "placeholder": "kind,value\nurl,https://...\nsha256,..."}),
        help_text="CSV with the header kind,value. Kinds: url, key, md5, sha1, sha256, pdq.",
    )

    class Meta:
        model = RemovalRequest
        fields = ["category", "source", "reference", "notes", "pdq_threshold"]

    def clean_identifiers_csv(self):
        try:
            return parse_identifiers_csv(self.cleaned_data["identifiers_csv"], source_name="identifiers")
        except TakedownError as exc:
            raise forms.ValidationError([exc.message, *exc.details]) from None


@admin.register(RemovalRequest)
class RemovalRequestAdmin(CreateThroughServiceAdmin):
    list_display = ["tracking_id", "category", "status", "source", "reference", "received_at", "due",
                    "identifier_total", "match_total"]
    list_filter = ["status", "category", DueFilter, "source", "received_at"]
    search_fields = ["tracking_id", "reference", "source"]
    date_hierarchy = "received_at"
    actions = ["approve_selected"]
    inlines = [IdentifierInline]
    change_form_template = "admin/removals/removalrequest/change_form.html"
    readonly_fields = ["tracking_id", "category", "status", "source", "reference", "pdq_threshold", "received_at",
                       "due_at",
                       "approved_at", "approved_by_label", "matched_at", "published_at", "completed_at"]
    fieldsets = [
        (None, {"fields": ["tracking_id", "category", "status", "source", "reference", "pdq_threshold", "notes"]}),
        ("Clock", {"fields": ["received_at", "due_at", "approved_at", "approved_by_label", "matched_at",
                              "published_at", "completed_at"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            identifier_n=Count("identifiers", distinct=True), match_n=Count("matches", distinct=True)
        )

    @admin.display(description="identifiers", ordering="identifier_n")
    def identifier_total(self, obj):
        return obj.identifier_n

    @admin.display(description="matches", ordering="match_n")
    def match_total(self, obj):
        return obj.match_n

    @admin.display(description="due", ordering="due_at")
    def due(self, obj):
        if obj.status in OPEN_STATUSES and obj.due_at < timezone.now():
            return format_html('<strong style="color:#ba2121">{} (overdue)</strong>', f"{obj.due_at:%Y-%m-%d %H:%M}")
        return f"{obj.due_at:%Y-%m-%d %H:%M}"

    add_form = RemovalRequestAddForm
    add_fields = ["category", "source", "reference", "notes", "pdq_threshold", "identifiers_csv"]

    def create(self, request, form):
        from apps.removals.tasks import request_match_task

        created = request_create(
            category=form.cleaned_data["category"], identifiers=form.cleaned_data["identifiers_csv"],
            actor=Actor.for_user(request.user), source=form.cleaned_data["source"] or "staff",
            reference=form.cleaned_data["reference"], notes=form.cleaned_data["notes"],
            pdq_threshold=form.cleaned_data["pdq_threshold"],
        )
        transaction.on_commit(lambda: request_match_task.delay(created.pk))
        return created

    def has_delete_permission(self, request, obj=None):
        return False  # a removal, once logged, is kept: reject it instead

    @admin.action(description="Approve selected requests and publish their blocklists")
    def approve_selected(self, request, queryset):
        approved = 0
        for removal in queryset:
            try:
                request_approve_later(request=removal, actor=Actor.for_user(request.user))
                approved += 1
            except TakedownError as exc:
                self.message_user(request, exc.message, messages.WARNING)
        if approved:
            self.message_user(request, f"Approved {approved} request(s); their blocklists are being published.",
                              messages.SUCCESS)

    def get_urls(self):
        return [
            path("<int:pk>/approve/", self.admin_site.admin_view(self.approve_view),
                 name="removals_removalrequest_approve"),
            *super().get_urls(),
        ]

    def approve_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        removal = get_object_or_404(RemovalRequest, pk=pk)
        if not self.has_change_permission(request, removal):
            return HttpResponseRedirect(reverse("admin:index"))
        try:
            request_approve_later(request=removal, actor=Actor.for_user(request.user))
            self.message_user(request, f"Approved {removal.tracking_id}; its blocklists are being published.",
                              messages.SUCCESS)
        except TakedownError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:removals_removalrequest_change", args=[pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        removal = self.get_object(request, object_id)
        if removal is not None:
            groups, total = request_matches_grouped(request=removal)
            extra_context.update(
                match_groups=groups, match_total=total,
                can_approve=removal.status in OPEN_STATUSES and self.has_change_permission(request, removal),
                audit_events=audit_events_for(removal),
                unmatched=removal.identifiers.filter(match_count=0),
                versions=removal.blocklist_versions.select_related("release__dataset"),
            )
        return super().change_view(request, object_id, form_url, extra_context)

