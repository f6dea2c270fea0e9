"""The request queue (the removal-request changelist): its "open" default, its filters and its compact cells.

What a csam or ncii request names stays hidden from staff without the restricted
role here as on the request page: the source column says "(restricted)" and the
flagger filter leaves such requests out, of its choices and of its results (a
request's flagger is one of the fields they may not see).
"""
from datetime import datetime, timedelta

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Case, CharField, Q, QuerySet, Value, When
from django.utils import timezone
from django.utils.html import format_html

from apps.core import roles
from apps.core.categories import RESTRICTED_CATEGORIES
from apps.removals import deadlines
from apps.removals.models import Policy, RemovalRequest, Status

OPEN = "open"
ALL = "all"
STATUS_PARAM = "status__exact"  # the name the status filter had, so links made for it keep working
# Query parameters that do not filter: the queue opens on its open view when it gets no others.
_NOT_FILTERS = {"o", "p", "_facets"}

SHORT_STATUS = {Status.RECEIVED: "received", Status.TRIAGE: "triage", Status.NEEDS_INFO: "needs info",
                Status.APPROVED: "approved", Status.REJECTED: "rejected", Status.PUBLISHED: "published",
                Status.COMPLETED: "completed", Status.REINSTATED: "reinstated"}
SOURCE_CHARS = 16
NAME_CHARS = 10


def open_by_default(request) -> None:
    """A queue opened without filters (or search) shows the open requests: its status filter set to Open.

    The request's GET gets the filter, so every link on the page (sorting, other
    filters, the way back from a request) keeps it; "All" is an explicit choice.
    """
    if set(request.GET) <= _NOT_FILTERS:
        request.GET = request.GET.copy()
        request.GET[STATUS_PARAM] = OPEN


class StatusFilter(admin.SimpleListFilter):
    """Status, with Open: every status still waiting on staff or on publication (deadlines.WAITING)."""

    title = "status"
    parameter_name = STATUS_PARAM

    def lookups(self, request, model_admin):
        return [(OPEN, "Open (waiting)"), *Status.choices]

    def queryset(self, request, queryset):
        value = self.value()
        if value == OPEN:
            return queryset.filter(status__in=deadlines.WAITING)
        if value in Status.values:
            return queryset.filter(status=value)
        return queryset

    def choices(self, changelist):
        choices = list(super().choices(changelist))
        # "All" is a value of its own: with no status at all the queue opens on Open.
        choices[0].update(selected=self.value() in (None, ALL),
                          query_string=changelist.get_query_string({self.parameter_name: ALL}))
        return choices


class FlaggerFilter(admin.SimpleListFilter):
    """Requests a trusted flagger sent.

    Which csam or ncii requests a flagger sent is restricted (the request's
    flagger field): for staff without the restricted role, filtering leaves
    those categories out of the results, and the choices are the flaggers that
    sent a request they may see (listing a hotline that sent only csam would
    tell them it did). Restricted staff get every flagger that sent a request.
    """

    title = "flagger"
    parameter_name = "flagger"

    def lookups(self, request, model_admin):
        sent = _visible(request, RemovalRequest.objects.exclude(flagger=None))
        # Through the request's field: the console and intake are layers side by side (neither imports the other).
        flaggers = RemovalRequest._meta.get_field("flagger").related_model.objects.filter(
            pk__in=sent.values("flagger_id")).order_by("name")
        return [(str(pk), name) for pk, name in flaggers.values_list("pk", "name")]

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        if not value.isdigit():
            return queryset.none()
        return _visible(request, queryset.filter(flagger_id=int(value)))


def _visible(request, queryset: QuerySet) -> QuerySet:
    """Without the restricted role, no csam or ncii request."""
    if roles.has_role(request.user, roles.RESTRICTED):
        return queryset
    return queryset.exclude(category__in=RESTRICTED_CATEGORIES)


class AssigneeFilter(admin.SimpleListFilter):
    """Assigned to me, unassigned, or to one of the staff who have requests assigned."""

    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        assignees = get_user_model().objects.filter(
            pk__in=RemovalRequest.objects.exclude(assignee=None).values("assignee_id")).order_by("username")
        return [("me", "Assigned to me"), ("none", "Unassigned"),
                *((str(pk), name) for pk, name in assignees.values_list("pk", "username"))]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "me":
            return queryset.filter(assignee=request.user)
        if value == "none":
            return queryset.filter(assignee=None)
        if value is not None:
            return queryset.filter(assignee_id=int(value)) if value.isdigit() else queryset.none()
        return queryset


def annotate_due_state(queryset: QuerySet) -> QuerySet:
    """Each request's `due_state`: overdue, soon (within Policy.soon_due_hours) or ok while it waits; done after."""
    now = timezone.now()
    horizon = now + timedelta(hours=Policy.current().soon_due_hours)
    waiting = Q(status__in=deadlines.WAITING)
    return queryset.annotate(due_state=Case(
        When(waiting & Q(due_at__lt=now), then=Value("overdue")),
        When(waiting & Q(due_at__lt=horizon), then=Value("soon")),
        When(waiting, then=Value("ok")), default=Value("done"), output_field=CharField()))


def span(delta: timedelta) -> str:
    """A duration as staff read it in a queue: minutes under an hour, hours under two days, then days."""
    minutes = int(abs(delta).total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} d"


def time_left_cell(*, due_at: datetime, due_state: str, now: datetime | None = None) -> str:
    """'5 h left' (amber when due soon), 'overdue by 2 d' (red); a dash once the request no longer waits."""
    title = f"due {due_at:%Y-%m-%d %H:%M} UTC"
    if due_state == "done":
        return format_html('<span title="{}">–</span>', title)
    left = due_at - (now or timezone.now())
    text = f"{span(left)} left" if left.total_seconds() >= 0 else f"overdue by {span(left)}"
    return format_html('<span class="time-left time-left-{}" title="{}">{}</span>', due_state, title, text)


def date_cell(moment: datetime) -> str:
    """'02 Dec' this year, 'Dec 2025' before; the whole moment in its title."""
    shown = f"{moment:%d %b}" if moment.year == timezone.now().year else f"{moment:%b %Y}"
    return format_html('<span title="{}">{}</span>', f"{moment:%Y-%m-%d %H:%M} UTC", shown)


def short_cell(text: str, chars: int, *, title: str | None = None) -> str:
    """`text` cut to `chars` characters, with `title` (the whole text unless given) in its title."""
    shown = text if len(text) <= chars else text[:chars - 1] + "…"
    return format_html('<span title="{}">{}</span>', text if title is None else title, shown)
