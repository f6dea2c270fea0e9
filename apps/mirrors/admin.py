from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import models, transaction
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from apps.blocklists.admin import BlocklistVersionAdmin
from apps.blocklists.models import BlocklistVersion
from apps.core import roles
from apps.core.actors import Actor
from apps.core.admin import ReadOnlyAdmin, ReadOnlyInline, ServiceAdmin
from apps.core.errors import TakedownError
from apps.core.forms import CheckedModelForm
from apps.datasets.models import Dataset, Release
from apps.mirrors.deadlines import duration_text, mirror_compliance
from apps.mirrors.models import (
    Acknowledgement,
    FeedEvent,
    FeedRetention,
    Mirror,
    Subscription,
    WebhookAttempt,
    WebhookDelivery,
)
from apps.mirrors.selectors import version_mirror_states
from apps.mirrors.services import (
    deliveries_retry,
    mirror_create,
    mirror_reenable,
    mirror_revoke,
    mirror_rotate_token,
    mirror_rotate_webhook_secret,
    mirror_update,
    webhook_url_check,
)
from apps.mirrors.tasks import event_fanout_task


def _fan_out_later(event_ids: list[int]) -> None:
    """Send the due deliveries of these feed events once the change commits."""
    for event_id in event_ids:
        transaction.on_commit(lambda pk=event_id: event_fanout_task.delay(pk))


# Deliveries shown on a mirror's page: the recent ones (the full list is the deliveries page).
_RECENT_DAYS = 30


class SubscriptionInline(ReadOnlyInline):
    model = Subscription
    fields = ["dataset", "created_at"]
    readonly_fields = fields


class AcknowledgementInline(ReadOnlyInline):
    model = Acknowledgement
    fields = ["blocklist", "status", "detail", "updated_at"]
    readonly_fields = fields


def _last_error(delivery: WebhookDelivery) -> str:
    attempt = delivery.attempts.order_by("-id").first()
    if attempt is None:
        return ""
    return attempt.error or (f"HTTP {attempt.status_code}" if attempt.status_code else "")


class DeliveryInline(ReadOnlyInline):
    model = WebhookDelivery
    verbose_name_plural = f"webhook deliveries (last {_RECENT_DAYS} days; failed ones can be retried from the link)"
    fields = ["event", "status", "attempt_count", "last_error", "next_attempt_at", "delivered_at", "open"]
    readonly_fields = fields

    def get_queryset(self, request):
        since = timezone.now() - timedelta(days=_RECENT_DAYS)
        return super().get_queryset(request).filter(created_at__gte=since).select_related(
            "event__release__dataset")

    @admin.display(description="last error")
    def last_error(self, obj):
        return _last_error(obj)

    @admin.display(description="")
    def open(self, obj):
        url = reverse("admin:mirrors_webhookdelivery_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, "attempts / retry" if obj.status == "failed" else "attempts")


class _WebhookUrlForm(CheckedModelForm):
    """Refuses, on the form rather than as an error page, a new webhook URL that sending would refuse."""

    webhook_url = forms.URLField(required=False, assume_scheme="https", max_length=1000)

    def clean_webhook_url(self):
        url = self.cleaned_data["webhook_url"]
        if url and url != self.instance.webhook_url:
            try:
                webhook_url_check(url=url)
            except TakedownError as exc:
                raise forms.ValidationError(exc.message) from None
        return url


_HOLD_HELP = ("Releases of its datasets it serves, counted in its lag and deadlines. None selected: not recorded, "
              "so every release of its datasets is counted.")


def _hold_field(required=False):
    return forms.ModelMultipleChoiceField(queryset=Release.objects.select_related("dataset").order_by(
        "dataset__name", "name"), required=required, label="Releases held", help_text=_HOLD_HELP)


def _check_held(form) -> None:
    """Refuse, on the form, releases held of a dataset not subscribed to (mirror_update would refuse them)."""
    datasets = {d.pk for d in form.cleaned_data.get("subscribe") or []}
    stray = [str(r) for r in form.cleaned_data.get("hold") or [] if r.dataset_id not in datasets]
    if stray:
        form.add_error("hold", f"Not a release of a dataset it subscribes to: {', '.join(stray)}.")


class MirrorChangeForm(_WebhookUrlForm):
    """The change page: the mirror's webhook, contact, datasets and releases held, saved together by
    mirror_update."""

    subscribe = forms.ModelMultipleChoiceField(queryset=Dataset.objects.all(), required=False,
                                               help_text="Datasets it holds.")
    hold = _hold_field()

    class Meta:
        model = Mirror
        fields = ["contact_email", "webhook_url"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["subscribe"].initial = list(self.instance.subscriptions.values_list("dataset", flat=True))
            self.fields["hold"].initial = list(self.instance.releases.values_list("pk", flat=True))

    def clean(self):
        data = super().clean()
        _check_held(self)
        return data


class MirrorAddForm(_WebhookUrlForm):
    subscribe = forms.ModelMultipleChoiceField(queryset=Dataset.objects.all(), help_text="Datasets it holds.")
    hold = _hold_field()

    class Meta:
        model = Mirror
        fields = ["name", "contact_email", "webhook_url"]

    def clean(self):
        data = super().clean()
        _check_held(self)
        return data


_RED, _AMBER, _GREEN = "#ba2121", "#9a5b00", "#2e7d32"


def _lag_key(rows) -> tuple:
    return sum(r.lag for r in rows), max((r.lag_seconds for r in rows if r.lag), default=0)


def _overdue_key(rows) -> tuple:
    late = [r for r in rows if r.overdue]
    oldest = min((r.deadline for r in late), default=None)
    return any(r.escalated for r in late), len(late), -oldest.timestamp() if oldest else 0


@admin.register(Mirror)
class MirrorAdmin(ServiceAdmin):
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "active", "webhooks", "lag", "overdue", "datasets_list", "held", "webhook_url",
                    "last_seen_at", "token_prefix"]
    list_filter = ["active"]
    search_fields = ["name", "contact_email"]
    inlines = [SubscriptionInline, AcknowledgementInline, DeliveryInline]
    form = MirrorChangeForm
    fields = ["name", "contact_email", "webhook_url", "subscribe", "hold", "compliance_table", "active",
              "disabled_reason",
              "disabled_at", "revoked_at", "consecutive_failures", "token_prefix", "created_at", "last_seen_at"]
    readonly_fields = ["name", "compliance_table", "active", "disabled_reason", "disabled_at", "revoked_at",
                       "consecutive_failures", "token_prefix", "created_at", "last_seen_at"]
    add_form = MirrorAddForm
    add_fields = ["name", "contact_email", "webhook_url", "subscribe", "hold"]
    actions = ["rotate_token", "rotate_webhook_secret", "revoke", "reenable"]

    @admin.display(description="webhooks")
    def webhooks(self, obj):
        if not obj.webhook_url:
            return "none (polls)"
        return f"disabled since {obj.disabled_at:%Y-%m-%d %H:%M}" if obj.disabled_at and obj.active else "on"

    @admin.display(description="datasets")
    def datasets_list(self, obj):
        return ", ".join(s.dataset.name for s in obj.subscriptions.all())

    def _compliance(self, obj):
        # One computation for the whole page, kept on the mirror objects the page lists.
        if not hasattr(obj, "_compliance"):
            obj._compliance = mirror_compliance(mirrors=Mirror.objects.filter(pk=obj.pk))[0].releases
        return obj._compliance

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        mirrors = list(changelist.result_list)
        by_pk = {state.mirror.pk: state.releases for state in mirror_compliance(
            mirrors=Mirror.objects.filter(pk__in=[m.pk for m in mirrors]))}
        for mirror in mirrors:
            mirror._compliance = by_pk.get(mirror.pk, [])
        changelist.result_list = self._sorted(changelist, mirrors)
        return changelist

    def _sorted(self, changelist, mirrors):
        """The page's mirrors in the order of the lag or overdue column when one of them is clicked: those are
        computed, not in the database, so the page is sorted here (by name first, as their header asks SQL)."""
        keys = {"lag": _lag_key, "overdue": _overdue_key}
        for index, direction in changelist.get_ordering_field_columns().items():
            name = changelist.list_display[index] if index < len(changelist.list_display) else None
            if name in keys:
                mirrors.sort(key=lambda m: keys[name](m._compliance), reverse=direction == "desc")
            break  # only the first (main) sort column decides
        return mirrors

    @admin.display(description="lag", ordering="name")
    def lag(self, obj):
        rows = self._compliance(obj)
        if not rows:
            return "-"
        versions, seconds = _lag_key(rows)
        if not versions:
            return format_html('<span class="mirror-lag" style="color:{}">up to date</span>', _GREEN)
        return format_html('<span class="mirror-lag" style="color:{}">{} version{} behind, for {}</span>', _AMBER,
                           versions, "s" if versions != 1 else "", duration_text(seconds))

    @admin.display(description="overdue", ordering="name")
    def overdue(self, obj):
        late = [r for r in self._compliance(obj) if r.overdue]
        if not late:
            return "-"
        return format_html_join(mark_safe("<br>"), '<strong class="mirror-overdue" style="color:{}">{}</strong> '
                                                     "{}/{} v{} was due {} UTC", [
            (_RED, "ESCALATED" if r.escalated else "OVERDUE", r.dataset, r.release, r.overdue_version,
             f"{r.deadline:%Y-%m-%d %H:%M}") for r in late])

    @admin.display(description="releases held")
    def held(self, obj):
        held = list(obj.releases.all())
        if not held:
            return format_html('<span style="color:{}" title="{}">not recorded (all of its datasets\' releases '
                               "counted)</span>", _AMBER, _HOLD_HELP)
        return ", ".join(str(r) for r in held)

    @admin.display(description="compliance")
    def compliance_table(self, obj):
        rows = self._compliance(obj)
        warning = "" if obj.releases.exists() else format_html(
            '<p class="mirror-unrecorded" style="color:{}">Releases held not recorded: every release of its datasets '
            "is counted. Select the ones it serves under Releases held.</p>", _AMBER)
        if not rows:
            return warning or "-"
        header = format_html("<tr>{}</tr>", format_html_join("", "<th>{}</th>", [(h,) for h in (
            "release", "published", "applied", "lag", "behind for", "time to acknowledge", "deadline")]))
        body = format_html_join("", "<tr><td>{}/{}</td><td>v{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                                    "<td>{}</td></tr>", [(
            r.dataset, r.release, r.latest_published or "-", f"v{r.latest_applied}" if r.latest_applied else "-",
            r.lag, duration_text(r.lag_seconds if r.lag else None), duration_text(r.time_to_acknowledge_seconds),
            (f"{'ESCALATED' if r.escalated else 'OVERDUE'}: v{r.overdue_version} was due "
             f"{r.deadline:%Y-%m-%d %H:%M} UTC") if r.overdue else "on time",
        ) for r in rows])
        return format_html("{}<table>{}{}</table>", warning, header, body)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("subscriptions__dataset", "releases__dataset")

    def create(self, request, form):
        created = mirror_create(
            name=form.cleaned_data["name"], datasets=list(form.cleaned_data["subscribe"]),
            webhook_url=form.cleaned_data["webhook_url"], contact_email=form.cleaned_data["contact_email"],
            releases=list(form.cleaned_data["hold"]), actor=Actor.for_user(request.user),
        )
        secret = f" Webhook signing secret: {created.webhook_secret}" if created.webhook_secret else ""
        self.message_user(
            request, f"Token for {created.mirror.name} (shown once, copy it now): {created.token}.{secret}",
            messages.WARNING,
        )
        return created.mirror

    def update(self, request, obj, form):
        mirror = Mirror.objects.get(pk=obj.pk)
        secret = mirror_update(mirror=mirror, webhook_url=form.cleaned_data["webhook_url"],
                               contact_email=form.cleaned_data["contact_email"],
                               datasets=list(form.cleaned_data["subscribe"]),
                               releases=list(form.cleaned_data["hold"]), actor=Actor.for_user(request.user))
        if secret:
            self.message_user(request, f"Webhook signing secret for {mirror.name} (shown once, copy it now): "
                                       f"{secret}", messages.WARNING)
        mirror.refresh_from_db()
        return mirror

    def _each(self, request, queryset, service, done: str) -> None:
        for mirror in queryset:
            try:
                result = service(mirror=mirror, actor=Actor.for_user(request.user))
            except TakedownError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                continue
            shown = result if isinstance(result, str) else ""
            self.message_user(request, done.format(name=mirror.name, value=shown),
                              messages.WARNING if shown else messages.SUCCESS)

    @admin.action(description="Rotate the API token (the old one stops working)", permissions=["change"])
    def rotate_token(self, request, queryset):
        self._each(request, queryset, mirror_rotate_token, "New token for {name} (shown once, copy it now): {value}")

    @admin.action(description="Rotate the webhook signing secret", permissions=["change"])
    def rotate_webhook_secret(self, request, queryset):
        self._each(request, queryset, mirror_rotate_webhook_secret,
                   "New webhook signing secret for {name} (shown once, copy it now): {value}")

    @admin.action(description="Revoke (for good: token stops working, no more webhooks)", permissions=["change"])
    def revoke(self, request, queryset):
        self._each(request, queryset, mirror_revoke, "Revoked {name}.")

    @admin.action(description="Re-enable the webhooks of a mirror they were disabled for", permissions=["change"])
    def reenable(self, request, queryset):
        def reenable_and_resend(mirror, actor):
            _fan_out_later(mirror_reenable(mirror=mirror, actor=actor))

        self._each(request, queryset, reenable_and_resend,
                   "Re-enabled the webhooks of {name}: its pending deliveries are being resent.")


@admin.register(Acknowledgement)
class AcknowledgementAdmin(ReadOnlyAdmin):
    list_display = ["mirror", "blocklist", "status", "updated_at"]
    list_filter = ["status", "mirror", "blocklist__release"]
    list_select_related = ["mirror", "blocklist__release__dataset"]
    fields = ["mirror", "blocklist", "status", "detail", "created_at", "updated_at"]
    readonly_fields = fields


@admin.register(FeedEvent)
class FeedEventAdmin(ReadOnlyAdmin):
    list_display = ["id", "type", "release", "blocklist", "created_at", "pruned_at"]
    list_select_related = ["release__dataset", "blocklist__release__dataset"]
    list_filter = ["type", "dataset"]
    fields = ["type", "dataset", "release", "blocklist", "payload", "created_at", "pruned_at"]
    readonly_fields = fields


@admin.register(FeedRetention)
class FeedRetentionAdmin(ReadOnlyAdmin):
    list_display = ["floor", "pruned_at", "pruned_count"]
    fields = list_display
    readonly_fields = fields


class WebhookAttemptInline(ReadOnlyInline):
    model = WebhookAttempt
    fields = ["started_at", "status", "status_code", "duration_ms", "error", "response_excerpt"]
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ["event", "mirror", "status", "attempt_count", "last_error", "next_attempt_at", "delivered_at",
                    "retry_button"]
    list_filter = ["status", "mirror"]
    list_select_related = ["mirror", "event__release__dataset"]
    fields = ["mirror", "event", "status", "attempt_count", "next_attempt_at", "created_at", "delivered_at",
              "retry_button"]
    readonly_fields = fields
    inlines = [WebhookAttemptInline]
    actions = ["retry_selected"]

    def has_change_permission(self, request, obj=None):
        # Needed for retrying (any staff role); every field stays read-only.
        return roles.has_role(request.user, roles.INTAKE)

    def get_urls(self):
        retry = self.admin_site.admin_view(require_POST(self.retry_view))
        return [path("<int:pk>/retry/", retry, name="mirrors_webhookdelivery_retry"), *super().get_urls()]

    @admin.display(description="last error")
    def last_error(self, obj):
        return _last_error(obj)

    @admin.display(description="")
    def retry_button(self, obj):
        if obj is None or obj.pk is None or obj.status != WebhookDelivery.Status.FAILED:
            return ""
        # Submits the page's own form (which carries the CSRF token) to the retry URL of this row.
        url = reverse("admin:mirrors_webhookdelivery_retry", args=[obj.pk])
        return format_html('<button type="submit" class="button" formaction="{}" formmethod="post" '
                           'id="retry-{}">Retry</button>', url, obj.pk)

    def retry_view(self, request, pk):
        delivery = get_object_or_404(WebhookDelivery, pk=pk)
        if not self.has_change_permission(request, delivery):
            raise PermissionDenied
        self._retried(request, *deliveries_retry(delivery_ids=[delivery.pk]))
        back = request.META.get("HTTP_REFERER", "")
        if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
            back = reverse("admin:mirrors_webhookdelivery_changelist")
        return HttpResponseRedirect(back)

    def _retried(self, request, count: int, events: list[int]) -> None:
        _fan_out_later(events)
        self.message_user(request, f"Queued {count} deliveries for another try (a disabled mirror's wait until "
                                   "it is re-enabled).", messages.SUCCESS)

    @admin.action(description="Retry selected deliveries now")
    def retry_selected(self, request, queryset):
        self._retried(request, *deliveries_retry(delivery_ids=list(queryset.values_list("pk", flat=True))))


@admin.register(BlocklistVersion)
class BlocklistVersionMirrorsAdmin(BlocklistVersionAdmin):
    """The version's page (apps.blocklists.admin) with the mirrors of its dataset: which applied it and when,
    which are behind or overdue, which do not hold its release."""

    change_form_template = "admin/mirrors/blocklistversion_change_form.html"

    def version_context(self, request, version) -> dict:
        states = version_mirror_states(version=version)
        return {**super().version_context(request, version), "mirror_states": states,
                "unrecorded": any(not s.recorded for s in states)}
