from django import forms
from django.contrib import admin, messages
from django.db import models
from django.utils import timezone

from apps.core import roles
from apps.core.actors import Actor
from apps.core.admin import CreateThroughServiceAdmin, ReadOnlyAdmin, ReadOnlyInline
from apps.datasets.models import Dataset
from apps.mirrors.models import Acknowledgement, FeedEvent, Mirror, Subscription, WebhookAttempt, WebhookDelivery
from apps.mirrors.services import mirror_create


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    extra = 0
    fields = ["dataset", "created_at"]
    readonly_fields = ["created_at"]


class AcknowledgementInline(ReadOnlyInline):
    model = Acknowledgement
    fields = ["blocklist", "status", "detail", "updated_at"]
    readonly_fields = fields


class MirrorAddForm(forms.ModelForm):
    webhook_url = forms.URLField(required=False, assume_scheme="https", max_length=1000)
    subscribe = forms.ModelMultipleChoiceField(queryset=Dataset.objects.all(), help_text="Datasets it holds.")

    class Meta:
        model = Mirror
        fields = ["name", "contact_email", "webhook_url"]


@admin.register(Mirror)
class MirrorAdmin(CreateThroughServiceAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "active", "datasets_list", "webhook_url", "last_seen_at", "token_prefix"]
    list_filter = ["active"]
    search_fields = ["name", "contact_email"]
    inlines = [SubscriptionInline, AcknowledgementInline]
    fields = ["name", "contact_email", "active", "webhook_url", "token_prefix", "created_at", "last_seen_at"]
    readonly_fields = ["name", "token_prefix", "created_at", "last_seen_at"]
    add_form = MirrorAddForm
    add_fields = ["name", "contact_email", "webhook_url", "subscribe"]

    @admin.display(description="datasets")
    def datasets_list(self, obj):
        return ", ".join(s.dataset.name for s in obj.subscriptions.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("subscriptions__dataset")

    def create(self, request, form):
        created = mirror_create(
            name=form.cleaned_data["name"], datasets=list(form.cleaned_data["subscribe"]),
            webhook_url=form.cleaned_data["webhook_url"], contact_email=form.cleaned_data["contact_email"],
            actor=Actor.for_user(request.user),
        )
        secret = f" Webhook signing secret: {created.webhook_secret}" if created.webhook_secret else ""
        self.message_user(
            request, f"Token for {created.mirror.name} (shown once, copy it now): {created.token}.{secret}",
            messages.WARNING,
        )
        return created.mirror


@admin.register(Acknowledgement)
class AcknowledgementAdmin(ReadOnlyAdmin):
    list_display = ["mirror", "blocklist", "status", "updated_at"]
    list_filter = ["status", "mirror", "blocklist__release"]
    list_select_related = ["mirror", "blocklist__release__dataset"]
    fields = ["mirror", "blocklist", "status", "detail", "created_at", "updated_at"]
    readonly_fields = fields


@admin.register(FeedEvent)
class FeedEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "release", "blocklist", "created_at"]
    list_select_related = ["release__dataset", "blocklist__release__dataset"]
    list_filter = ["type", "dataset"]
    fields = ["type", "dataset", "release", "blocklist", "payload", "created_at"]
    readonly_fields = fields


class WebhookAttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ["started_at", "status_code", "duration_ms", "error", "response_excerpt"]
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["event", "mirror", "status", "attempt_count", "next_attempt_at", "delivered_at"]
    list_filter = ["status", "mirror"]
    list_select_related = ["mirror", "event__release__dataset"]
    fields = ["mirror", "event", "status", "attempt_count", "next_attempt_at", "created_at", "delivered_at"]
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["retry_selected"]

    def has_change_permission(self, request, obj=None):
        # Needed for the retry action (any staff role); every field stays read-only.
        return roles.has_role(request.user, roles.INTAKE)

    @admin.action(description="Retry selected deliveries now")
    def retry_selected(self, request, queryset):
        from apps.mirrors.tasks import delivery_send_task

        ids = list(queryset.exclude(status=WebhookDelivery.Status.DELIVERED).values_list("pk", flat=True))
        WebhookDelivery.objects.filter(pk__in=ids).update(
            status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now(), attempt_count=0
        )
        for pk in ids:
            delivery_send_task.delay(pk)
        self.message_user(request, f"Queued {len(ids)} deliveries for another try.", messages.SUCCESS)
