from django import forms
from django.contrib import admin, messages

from apps.core import roles
from apps.core.actors import Actor
from apps.core.admin import ReadOnlyAdmin, ServiceAdmin
from apps.core.categories import RESTRICTED_CATEGORIES
from apps.core.forms import CheckedModelForm
from apps.core.identifiers import KIND_CHOICES, InvalidIdentifier, normalise
from apps.datasets.models import Release
from apps.matching.models import AllowListEntry, Match
from apps.matching.services import allow_list_add, allow_list_revoke


@admin.register(Match)
class MatchAdmin(ReadOnlyAdmin):
    list_display = ["request", "release", "shard", "key", "identifier", "distance", "expanded"]
    list_select_related = ["request", "release__dataset", "shard", "identifier"]
    list_filter = ["expanded", "release", "request__category"]
    search_fields = ["=key", "request__tracking_id"]
    fields = ["request", "identifier", "release", "shard", "key", "distance", "expanded", "expanded_via",
              "created_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        """Matches of csam and ncii requests are listed only for the restricted role."""
        matches = super().get_queryset(request)
        if not roles.has_role(request.user, roles.RESTRICTED):
            matches = matches.exclude(request__category__in=RESTRICTED_CATEGORIES)
        return matches


class AllowListAddForm(CheckedModelForm):
    kind = forms.ChoiceField(choices=[("", "---------"), *KIND_CHOICES], required=False,
                             help_text="For an identifier everywhere: its kind and value.")
    release = forms.ModelChoiceField(queryset=Release.objects.filter(status=Release.Status.READY), required=False,
                                     help_text="For one sample: its release and key.")

    class Meta:
        model = AllowListEntry
        fields = ["kind", "value", "release", "key", "reason"]

    def clean(self):
        data = super().clean()
        by_identifier = bool(data.get("kind") or data.get("value"))
        by_sample = bool(data.get("release") or data.get("key"))
        if by_identifier == by_sample:
            raise forms.ValidationError("Give either a kind and value, or a release and key.")
        active = AllowListEntry.objects.filter(revoked_at=None)
        if by_identifier:
            try:
                data["value"] = normalise(data.get("kind") or "", data.get("value") or "")
            except InvalidIdentifier as exc:
                raise forms.ValidationError({"value": str(exc)}) from None
            active = active.filter(kind=data["kind"], value=data["value"])
        else:
            active = active.filter(release=data.get("release"), key=data.get("key"))
        if active.exists():
            raise forms.ValidationError(f"{active.first()} is already on the allow-list.")
        return data


@admin.register(AllowListEntry)
class AllowListEntryAdmin(ServiceAdmin):
    list_display = ["__str__", "scope", "reason", "created_by_label", "created_at", "revoked_at"]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["value", "key", "reason"]
    fields = ["scope", "kind", "value", "release", "key", "reason", "created_by_label", "created_at", "revoked_at",
              "revoked_by_label"]
    readonly_fields = fields
    add_form = AllowListAddForm
    add_fields = ["kind", "value", "release", "key", "reason"]
    actions = ["revoke_selected"]

    def create(self, request, form):
        data = form.cleaned_data
        return allow_list_add(actor=Actor.for_user(request.user), reason=data["reason"], kind=data["kind"],
                              value=data["value"], release=data["release"], key=data["key"])

    def has_change_permission(self, request, obj=None):
        # The revoke action needs it (reviewers); every field stays read-only.
        return roles.has_role(request.user, roles.REVIEWER)

    def has_delete_permission(self, request, obj=None):
        return False  # entries are revoked, never deleted: the audit trail names them

    @admin.action(description="Take the selected entries off the allow-list")
    def revoke_selected(self, request, queryset):
        done = 0
        for entry in queryset.filter(revoked_at=None):
            allow_list_revoke(entry=entry, actor=Actor.for_user(request.user))
            done += 1
        self.message_user(request, f"Took {done} entries off the allow-list.", messages.SUCCESS)
