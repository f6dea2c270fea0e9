"""Registered models and their advisories: reviewers and above look, admins change a model's owner details.

Advisories hold counts by coarse category only (csam and ncii are "legal"), so nothing here needs the
restricted role."""
import json

from django.contrib import admin
from django.utils.html import format_html

from apps.advisories.models import Advisory, TrainedModel, TrainingSet
from apps.advisories.selectors import models_with_counts
from apps.advisories.services import model_update
from apps.core import roles
from apps.core.actors import Actor
from apps.core.admin import ReadOnlyAdmin, ReadOnlyInline, ServiceAdmin


class _ByRole:
    """Reviewers (and admins) may look; only admins may change."""

    def has_module_permission(self, request):
        return roles.has_role(request.user, roles.REVIEWER)

    def has_view_permission(self, request, obj=None):
        return roles.has_role(request.user, roles.REVIEWER)


class TrainingSetInline(ReadOnlyInline):
    model = TrainingSet
    fields = ["release", "subset_count", "created_at"]
    readonly_fields = fields
    verbose_name = "trained on"
    verbose_name_plural = "trained on (no subset count: the whole release)"


class AdvisoryInline(ReadOnlyInline):
    model = Advisory
    fields = ["release", "blocklist", "removed_count", "categories", "status", "deadline"]
    readonly_fields = fields
    show_change_link = True


@admin.register(TrainedModel)
class TrainedModelAdmin(_ByRole, ServiceAdmin):
    list_display = ["name", "owner_org", "trained_on", "base_model", "advisory_count", "affected_count", "public"]
    list_filter = ["public"]
    search_fields = ["name", "owner_org", "contact_email", "hf_repo_id"]
    fields = ["name", "owner_org", "contact_email", "hf_repo_id", "public", "base_model", "webhook_url",
              "token_prefix", "revoked_at", "last_seen_at", "created_at"]
    readonly_fields = ["name", "base_model", "webhook_url", "token_prefix", "revoked_at", "last_seen_at",
                       "created_at"]
    inlines = [TrainingSetInline, AdvisoryInline]

    def get_queryset(self, request):
        return models_with_counts().select_related("base_model").prefetch_related("training_sets__release__dataset")

    def has_add_permission(self, request):
        return False  # registered with `manage.py register_model` for now (it prints the owner's token)

    def has_change_permission(self, request, obj=None):
        return roles.has_role(request.user, roles.ADMIN)

    @admin.display(description="trained on")
    def trained_on(self, obj):
        return ", ".join(f"{t.release}" + (f" ({t.subset_count:,} samples)" if t.subset_path else "")
                         for t in obj.training_sets.all()) or "-"

    @admin.display(description="advisories", ordering="advisory_count")
    def advisory_count(self, obj):
        return obj.advisory_count

    @admin.display(description="affected", ordering="affected_count")
    def affected_count(self, obj):
        return obj.affected_count

    def update(self, request, obj, form):
        changed = {name: form.cleaned_data[name] for name in ("owner_org", "contact_email", "hf_repo_id", "public")
                   if name in form.changed_data}
        if not changed:
            return obj
        return model_update(model=TrainedModel.objects.get(pk=obj.pk), actor=Actor.for_user(request.user), **changed)


@admin.register(Advisory)
class AdvisoryAdmin(_ByRole, ReadOnlyAdmin):
    list_display = ["advisory", "model", "release", "blocklist", "removed_count", "categories_shown", "status",
                    "deadline", "document_version"]
    list_filter = ["status", "release"]
    search_fields = ["model__name"]
    fields = ["advisory", "model", "release", "blocklist", "removed_count", "categories_shown", "fixed_in", "status",
              "deadline", "document_version", "key_id", "signature", "document_shown", "created_at", "updated_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("model", "release__dataset", "blocklist__release__dataset")

    @admin.display(description="advisory")
    def advisory(self, obj):
        return obj.advisory_id

    @admin.display(description="by category")
    def categories_shown(self, obj):
        return ", ".join(f"{name} {count}" for name, count in obj.categories.items()) or "-"

    @admin.display(description="signed OpenVEX document")
    def document_shown(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(json.loads(bytes(obj.document)), indent=2, sort_keys=True))
