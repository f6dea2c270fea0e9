"""Background work in the admin: events, their handler runs by state and age, and a retry for the dead."""
from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.core import roles
from apps.core.actors import Actor
from apps.core.admin import ReadOnlyAdmin, ReadOnlyInline
from apps.events.models import Event, HandlerRun, Heartbeat
from apps.events.services import runs_give_up, runs_retry

Status = HandlerRun.Status
_COLOURS = {Status.PENDING: "#666", Status.RUNNING: "#205493", Status.DONE: "#2e7d32", Status.DEAD: "#ba2121"}


def _age(moment) -> str:
    seconds = int((timezone.now() - moment).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("open", "Not done yet"), ("waiting", "Waiting (never tried)"), ("retrying", "Retrying"),
                ("running", "Running"), ("dead", "Dead (needs staff)"), ("done", "Done")]

    def queryset(self, request, queryset):
        return {
            "open": lambda q: q.filter(status__in=(Status.PENDING, Status.RUNNING, Status.DEAD)),
            "waiting": lambda q: q.filter(status=Status.PENDING, attempts=0),
            "retrying": lambda q: q.filter(status=Status.PENDING, attempts__gt=0),
            "running": lambda q: q.filter(status=Status.RUNNING),
            "dead": lambda q: q.filter(status=Status.DEAD),
            "done": lambda q: q.filter(status=Status.DONE),
        }.get(self.value(), lambda q: q)(queryset)


class _StaffCanSee:
    """Every staff role may look at background work: it names ids and counts, never what a request names."""

    def has_module_permission(self, request):
        return roles.has_role(request.user, roles.INTAKE)

    def has_view_permission(self, request, obj=None):
        return roles.has_role(request.user, roles.INTAKE)


@admin.register(HandlerRun)
class HandlerRunAdmin(_StaffCanSee, ReadOnlyAdmin):
    list_display = ["id", "event_link", "handler", "state", "attempts", "age", "error"]
    list_filter = [StateFilter, "handler", "event__name"]
    list_select_related = ["event"]
    search_fields = ["handler", "event__name", "last_error"]
    ordering = ["-id"]
    fields = ["event_link", "handler", "state", "attempts", "created_at", "due_at", "started_at", "finished_at",
              "lease_until", "worker", "dispatches", "redispatch_at", "last_error"]
    readonly_fields = fields
    actions = ["retry_selected", "give_up_selected"]

    @admin.display(description="event", ordering="event__name")
    def event_link(self, obj):
        # Absolute: the same cell shows on the list and on a run's own page.
        return format_html('<a href="{}">{}</a>', reverse("admin:events_event_change", args=[obj.event_id]), obj.event)

    @admin.display(description="state", ordering="status")
    def state(self, obj):
        label = "Retrying" if obj.status == Status.PENDING and obj.attempts else obj.get_status_display()
        if obj.status == Status.RUNNING and obj.lease_until and obj.lease_until < timezone.now():
            label = "Running, but its worker stopped reporting (handed out again soon)"
        return format_html('<strong style="color:{}">{}</strong>', _COLOURS[obj.status], label)

    @admin.display(description="age", ordering="created_at")
    def age(self, obj):
        return _age(obj.created_at)

    @admin.display(description="last error")
    def error(self, obj):
        return obj.last_error[:120]

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not roles.has_role(request.user, roles.REVIEWER):
            actions.pop("retry_selected", None)
            actions.pop("give_up_selected", None)
        return actions

    @admin.action(description="Retry the selected runs now (dead or waiting ones)")
    def retry_selected(self, request, queryset):
        count = runs_retry(run_ids=list(queryset.values_list("pk", flat=True)), actor=Actor.for_user(request.user))
        self.message_user(request, f"Queued {count} run(s) again." if count else
                          "Nothing to retry: only dead or waiting runs are retried.",
                          messages.SUCCESS if count else messages.WARNING)

    @admin.action(description="Give up on the selected runs (dead-letter: no more retries until retried by hand)")
    def give_up_selected(self, request, queryset):
        count = runs_give_up(run_ids=list(queryset.values_list("pk", flat=True)), actor=Actor.for_user(request.user))
        self.message_user(request, f"Gave up on {count} run(s): they are dead until someone retries them." if count
                          else "Nothing given up: only waiting, retrying or abandoned runs are dead-lettered "
                               "(done and dead ones, and those a live worker holds, are left).",
                          messages.SUCCESS if count else messages.WARNING)


class HandlerRunInline(ReadOnlyInline):
    model = HandlerRun
    fields = ["handler", "status", "attempts", "due_at", "finished_at", "worker", "last_error"]
    readonly_fields = fields


@admin.register(Event)
class EventAdmin(_StaffCanSee, ReadOnlyAdmin):
    list_display = ["id", "name", "payload", "created_at", "cause"]
    list_filter = ["name"]
    date_hierarchy = "created_at"
    fields = ["name", "payload", "key", "cause", "created_at"]
    readonly_fields = fields
    inlines = [HandlerRunInline]


@admin.register(Heartbeat)
class HeartbeatAdmin(_StaffCanSee, ReadOnlyAdmin):
    list_display = ["name", "kind", "pid", "started_at", "seen_at", "stopped_at"]
    fields = list_display
    readonly_fields = fields
