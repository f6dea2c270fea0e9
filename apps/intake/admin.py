from django import forms
from django.contrib import admin, messages
from django.db.models import Count

from apps.core.actors import Actor
from apps.core.admin import ServiceAdmin
from apps.core.errors import TakedownError
from apps.core.forms import CheckedModelForm
from apps.intake.flaggers import flagger_create, flagger_revoke, flagger_rotate_token, flagger_update
from apps.intake.models import TrustedFlagger


class TrustedFlaggerAddForm(CheckedModelForm):
    class Meta:
        model = TrustedFlagger
        fields = ["name", "kind", "contact_email"]

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if TrustedFlagger.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError(f"A trusted flagger named {name!r} already exists.")
        return name


@admin.register(TrustedFlagger)
class TrustedFlaggerAdmin(ServiceAdmin):
    list_display = ["name", "kind", "active", "contact_email", "request_total", "last_seen_at", "token_prefix",
                    "created_at"]
    list_filter = ["kind", "active"]
    search_fields = ["name", "contact_email"]
    # The token is changed only by the actions (audited): never through the form.
    fields = ["name", "kind", "contact_email", "flood_max_samples", "flood_max_share", "active", "token_prefix",
              "created_at", "last_seen_at", "revoked_at"]
    readonly_fields = ["name", "active", "token_prefix", "created_at", "last_seen_at", "revoked_at"]
    add_form = TrustedFlaggerAddForm
    add_fields = ["name", "kind", "contact_email"]
    actions = ["rotate_selected", "revoke_selected"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(request_n=Count("requests"))

    @admin.display(description="requests", ordering="request_n")
    def request_total(self, obj):
        return obj.request_n

    def has_delete_permission(self, request, obj=None):
        return False  # its requests keep pointing at it: revoke it instead

    def update(self, request, obj, form):
        return flagger_update(flagger=obj, kind=form.cleaned_data["kind"],
                              contact_email=form.cleaned_data["contact_email"], actor=Actor.for_user(request.user),
                              flood_max_samples=form.cleaned_data["flood_max_samples"],
                              flood_max_share=form.cleaned_data["flood_max_share"])

    def create(self, request, form):
        flagger, token = flagger_create(
            name=form.cleaned_data["name"], kind=form.cleaned_data["kind"],
            contact_email=form.cleaned_data["contact_email"], actor=Actor.for_user(request.user),
        )
        self.message_user(request, f"Token for {flagger.name} (shown once, copy it now): {token}", messages.WARNING)
        return flagger

    @admin.action(description="Issue a new token (the old one stops working)")
    def rotate_selected(self, request, queryset):
        for flagger in queryset:
            try:
                token = flagger_rotate_token(flagger=flagger, actor=Actor.for_user(request.user))
            except TakedownError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            self.message_user(request, f"New token for {flagger.name} (shown once, copy it now): {token}",
                              messages.WARNING)

    @admin.action(description="Revoke the selected flaggers' tokens, for good")
    def revoke_selected(self, request, queryset):
        revoked = 0
        for flagger in queryset.filter(active=True):
            try:
                flagger_revoke(flagger=flagger, actor=Actor.for_user(request.user))
            except TakedownError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            revoked += 1
        self.message_user(request, f"Revoked {revoked} flagger token(s).", messages.SUCCESS)
