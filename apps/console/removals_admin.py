import csv
from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Case, Count, F, Q, Value, When
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.audit.selectors import audit_events_for
from apps.console import queue
from apps.core import roles
from apps.core.actors import Actor
from apps.core.admin import ServiceAdmin
from apps.core.categories import RESTRICTED_CATEGORIES, Category
from apps.core.errors import TakedownError
from apps.core.forms import CheckedForm, CheckedModelForm
from apps.core.identifiers import parse_identifiers_csv
from apps.events.selectors import run_states, runs_for_objects, workers_alive
from apps.events.services import runs_give_up, runs_retry
from apps.matching.models import AllowListEntry, Match
from apps.matching.selectors import (
    Query,
    request_key_roots,
    request_matches_grouped,
    request_pending_releases,
    request_scope_releases,
    unmatched_explain,
)
from apps.matching.services import allow_list_match
from apps.mirrors.selectors import recipients_rows, request_mirror_states
from apps.removals import deadlines, legal
from apps.removals.models import (
    BLOCKING_STATUSES,
    OPEN_STATUSES,
    Channel,
    HotlineReport,
    Identifier,
    Policy,
    RemovalRequest,
    Status,
)
from apps.removals.policy import identifiers_check
from apps.removals.services import (
    Intake,
    hotline_report_record,
    request_approve,
    request_assign,
    request_create,
    request_needs_info,
    request_notes_update,
    request_reject,
    request_rematch,
    request_transition,
)


class DueFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("soon", f"Due within {Policy.current().soon_due_hours} hours")]

    def queryset(self, request, queryset):
        if self.value() == "overdue":
            return queryset.filter(pk__in=deadlines.requests_overdue().values("pk"))
        if self.value() == "soon":
            return queryset.filter(pk__in=deadlines.requests_due_soon().values("pk"))
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


class RemovalRequestAddForm(CheckedModelForm):
    identifiers_csv = forms.CharField(
        label="Identifiers",
        widget=forms.Textarea(attrs={"rows": 8, "cols": 90, "placeholder": "kind,value\nurl,https://...\nsha256,..."}),
        help_text="CSV with the header kind,value. Kinds: url, key (needs a dataset), md5, sha1, sha256, pdq; "
                  "domain and url_prefix for opt-outs (or for any category when allowed below).",
    )
    allow_broad = forms.BooleanField(
        required=False, label="Allow domain and URL-prefix identifiers",
        help_text="For a request that is not an opt-out: it removes every sample of those sites, and is never "
                  "approved without review.")
    hotline = forms.ChoiceField(choices=[("", "---------"), *HotlineReport.Hotline.choices], required=False,
                                help_text="csam: the hotline the material was reported to.")
    hotline_report_id = forms.CharField(required=False, max_length=200, label="Hotline report id")

    class Meta:
        model = RemovalRequest
        fields = ["category", "dataset", "release", "source", "reference", "notes", "pdq_threshold", "requester_name",
                  "requester_email"]

    def clean_identifiers_csv(self):
        try:
            return parse_identifiers_csv(self.cleaned_data["identifiers_csv"], source_name="identifiers")
        except TakedownError as exc:
            raise forms.ValidationError([exc.message, *exc.details]) from None

    def clean(self):
        data = super().clean()
        if bool(data.get("hotline")) != bool(data.get("hotline_report_id", "").strip()):
            raise forms.ValidationError("Give both the hotline and its report id, or neither.")
        if data.get("hotline") and data.get("category") != Category.CSAM:
            raise forms.ValidationError("Only csam requests carry a hotline report.")
        release = data.get("release")
        if release is not None:
            if data.get("dataset") is None:
                self.add_error("dataset", f"Release {release} belongs to dataset {release.dataset}: choose it too.")
            elif release.dataset_id != data["dataset"].pk:
                self.add_error("release", f"{release} is not a release of dataset {data['dataset']}.")
        if data.get("category") and isinstance(data.get("identifiers_csv"), list):
            try:
                identifiers_check(identifiers=data["identifiers_csv"], category=data["category"],
                                  channel=Channel.STAFF, dataset=data.get("dataset"),
                                  broad_allowed=data.get("allow_broad", False))
            except TakedownError as exc:
                self.add_error("identifiers_csv", [exc.message, *exc.details])
        return data


class ReasonForm(CheckedForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class CounterNoticeForm(CheckedForm):
    counter_party = forms.CharField(max_length=300)
    statement = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class LawsuitForm(CheckedForm):
    reference = forms.CharField(max_length=300, help_text="The court and case number.")


class ExtensionForm(CheckedForm):
    months = forms.TypedChoiceField(choices=[(1, "1 month"), (2, "2 months")], coerce=int)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}))


class DmcaForm(CheckedForm):
    """The six elements of 17 USC 512(c)(3)(A), as the requester sent them (by post, email or a second form)."""

    signature = forms.CharField(max_length=300, required=False, help_text="(i) Physical or electronic signature.")
    copyrighted_work = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                                       help_text="(ii) The copyrighted work claimed to be infringed.")
    infringing_material = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                                          help_text="(iii) The infringing material and where it is.")
    contact = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False,
                              help_text="(iv) The complaining party's address, telephone or email.")
    good_faith = forms.BooleanField(required=False, help_text="(v) Statement of good-faith belief.")
    accurate_under_penalty = forms.BooleanField(required=False, help_text="(vi) Statement of accuracy and "
                                                                          "authority under penalty of perjury.")


class HotlineForm(CheckedForm):
    hotline = forms.ChoiceField(choices=HotlineReport.Hotline.choices)
    hotline_name = forms.CharField(max_length=200, required=False)
    report_id = forms.CharField(max_length=200)


class AllowSampleForm(CheckedForm):
    """Allow-list the sample of one of the request's matches (a false positive)."""

    match = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


class RunForm(CheckedForm):
    """One of the request's background runs, to retry or give up on."""

    run = forms.IntegerField(widget=forms.HiddenInput)


def _allow_sample(removal: RemovalRequest, actor: Actor, data: dict) -> AllowListEntry:
    match = Match.objects.filter(pk=data["match"], request=removal).select_related(
        "release__dataset", "request").first()
    if match is None:
        raise TakedownError("that match is not one of this request's (matched again meanwhile?): reload the page")
    return allow_list_match(match=match, actor=actor, reason=data["reason"])


def _own_runs(removal: RemovalRequest, data: dict) -> list[int]:
    ids = [run.pk for run in runs_for_objects(key="request", ids=[removal.pk]) if run.pk == data["run"]]
    if not ids:
        raise TakedownError("that background run is not one of this request's")
    return ids


def _retry_run(removal: RemovalRequest, actor: Actor, data: dict) -> int:
    roles.require_role(actor.user, roles.REVIEWER, "retry background work")
    return runs_retry(run_ids=_own_runs(removal, data), actor=actor) or _none(
        "nothing to retry: only dead, waiting or retrying runs are retried (reload the page)")


def _give_up_run(removal: RemovalRequest, actor: Actor, data: dict) -> int:
    roles.require_role(actor.user, roles.REVIEWER, "give up on background work")
    return runs_give_up(run_ids=_own_runs(removal, data), actor=actor) or _none(
        "nothing given up: the run is done, dead already, or held by a live worker (reload the page)")


# Explaining every unmatched identifier searches the index: the page explains the first ones only.
_EXPLAINED_UNMATCHED = 200


def _unmatched_explained(removal: RemovalRequest) -> list[Identifier]:
    """The request's identifiers that match nothing, the first of them each with `why`: allow-listed hits, or
    for a PDQ hash the nearest sample's distance against the request's threshold."""
    unmatched = list(removal.identifiers.filter(match_count=0).order_by("line", "pk"))
    if not unmatched:
        return unmatched
    scope = request_scope_releases(request=removal)
    if scope is not None:
        scope = [r for r in scope if r.status == r.Status.READY]
    why = unmatched_explain([Query(i.pk, i.kind, i.value) for i in unmatched[:_EXPLAINED_UNMATCHED]],
                            releases=scope, threshold=removal.pdq_threshold,
                            expand=removal.category in settings.EXPAND_SAME_CONTENT_CATEGORIES,
                            key_roots=request_key_roots(request=removal))
    for ident in unmatched:
        ident.why = str(why[ident.pk]) if ident.pk in why else ""
    return unmatched


def _outside(form: forms.Form, form_id: str) -> forms.Form:
    """Bind a form's inputs to a <form> placed after the change form (forms cannot nest)."""
    for field in form.fields.values():
        field.widget.attrs["form"] = form_id
    return form


# Fields only staff who may see the category see: the requester and what they named.
# What a csam or ncii request names or who sent and approved it: restricted staff only.
_PRIVATE_FIELDS = ["flagger", "flagger_name", "source", "reference", "notes", "requester_name", "requester_email",
                   "requester_details", "approved_by_label", "decision_reason"]
# Refusals of a bulk action listed one by one; the rest are counted.
_MAX_REPORTED = 10
# Searching by these finds a csam or ncii request only for restricted staff (anyone may search by tracking id).
_PRIVATE_SEARCH = ["reference", "source"]


@admin.register(RemovalRequest)
class RemovalRequestAdmin(ServiceAdmin):
    # The queue: compact enough for 1440 px (console/queue.css), sorted by time left.
    list_display = ["tracking_id", "category_cell", "status_cell", "origin", "assigned", "received", "time_left",
                    "counts"]
    list_filter = [queue.StatusFilter, "category", DueFilter, "channel", queue.FlaggerFilter, queue.AssigneeFilter,
                   "received_at"]
    ordering = ["due_at", "id"]
    search_fields = ["tracking_id", "reference", "source"]
    date_hierarchy = "received_at"
    actions = ["assign_to_me", "unassign_selected", "triage_selected", "approve_selected", "reject_selected"]
    inlines = [IdentifierInline]
    change_form_template = "admin/removals/removalrequest/change_form.html"
    readonly_fields = ["tracking_id", "category", "scope", "status", "channel", "flagger", "source", "reference",
                       "pdq_threshold", "requester_name", "requester_email", "requester_details", "received_at",
                       "due_at", "legal_hold_until", "approved_at", "approved_by_label", "decided_at",
                       "decision_reason", "matched_at", "published_at", "completed_at", "reinstated_at",
                       "flood_held_at", "flood_samples", "flood_detail", "flood_released_at", "flood_released_by_label",
                       "assigned", "flagger_name"]
    fieldsets = [
        (None, {"fields": ["tracking_id", "category", "scope", "status", "assigned", "channel", "flagger", "source",
                           "reference", "pdq_threshold", "notes"]}),
        ("Requester", {"fields": ["requester_name", "requester_email", "requester_details"]}),
        ("Clock", {"fields": ["received_at", "due_at", "legal_hold_until", "approved_at", "approved_by_label",
                              "decided_at", "decision_reason", "matched_at", "published_at", "completed_at",
                              "reinstated_at"]}),
        ("Flood check", {"fields": ["flood_held_at", "flood_samples", "flood_detail", "flood_released_at",
                                    "flood_released_by_label"]}),
    ]
    add_form = RemovalRequestAddForm
    add_fields = ["category", "dataset", "release", "source", "reference", "notes", "pdq_threshold",
                  "requester_name", "requester_email", "hotline", "hotline_report_id", "identifiers_csv", "allow_broad"]

    def get_queryset(self, request):
        # Who sent a csam or ncii request is shown only to restricted staff.
        origin = F("source") if roles.has_role(request.user, roles.RESTRICTED) else Case(
            When(category__in=RESTRICTED_CATEGORIES, then=Value("(restricted)")), default=F("source"))
        return queue.annotate_due_state(super().get_queryset(request).select_related("assignee").annotate(
            identifier_n=Count("identifiers", distinct=True), match_n=Count("matches", distinct=True),
            origin_text=origin,
        ))

    def changelist_view(self, request, extra_context=None):
        queue.open_by_default(request)
        return super().changelist_view(request, extra_context)

    @admin.display(description="category", ordering="category")
    def category_cell(self, obj):
        return queue.short_cell(obj.category, 12, title=obj.get_category_display())

    @admin.display(description="status", ordering="status")
    def status_cell(self, obj):
        return queue.short_cell(queue.SHORT_STATUS.get(obj.status, obj.status), 12, title=obj.get_status_display())

    @admin.display(description="assignee", ordering="assignee__username")
    def assigned(self, obj):
        if obj.assignee is None:
            return "–"
        return queue.short_cell(obj.assignee.get_username(), queue.NAME_CHARS)

    @admin.display(description="received", ordering="received_at")
    def received(self, obj):
        return queue.date_cell(obj.received_at)

    @admin.display(description="time left", ordering="due_at")
    def time_left(self, obj):
        return queue.time_left_cell(due_at=obj.due_at, due_state=obj.due_state)

    @admin.display(description="ids / matches", ordering="match_n")
    def counts(self, obj):
        return format_html('<span title="{} identifiers, {} matches">{} / {}</span>', obj.identifier_n, obj.match_n,
                           obj.identifier_n, obj.match_n)

    @admin.display(description="applies to")
    def scope(self, obj):
        return obj.scope

    def _flaggers_admin(self):
        return self.admin_site._registry[RemovalRequest._meta.get_field("flagger").related_model]

    @admin.display(description="flagger")
    def flagger_name(self, obj):
        return obj.flagger.name if obj.flagger_id else "-"

    @admin.display(description="source", ordering="origin_text")
    def origin(self, obj):
        """Where it came from: the source (masked for csam and ncii) cut short; the whole, and the channel, in its
        title."""
        return queue.short_cell(obj.origin_text or obj.get_channel_display(), queue.SOURCE_CHARS,
                                title=f"{obj.origin_text} ({obj.get_channel_display()})" if obj.origin_text
                                else obj.get_channel_display())

    def get_search_results(self, request, queryset, search_term):
        """Staff without the restricted role find csam and ncii requests by tracking id only: a search by source or
        reference must not tell them such a request exists."""
        if roles.has_role(request.user, roles.RESTRICTED) or not search_term.strip():
            return super().get_search_results(request, queryset, search_term)
        words = [w.strip("\"'") for w in search_term.split() if w.strip("\"'")]
        for word in words:
            private = Q()
            for field in _PRIVATE_SEARCH:
                private |= Q(**{f"{field}__icontains": word})
            queryset = queryset.filter(Q(tracking_id__icontains=word) | (
                ~Q(category__in=RESTRICTED_CATEGORIES) & private))
        return queryset, False

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self._flaggers_admin().has_view_permission(request):
            # The flagger's name, not a link to a page this member cannot open (flaggers are admins' pages).
            fieldsets = [(name, {**opts, "fields": ["flagger_name" if f == "flagger" else f for f in opts["fields"]]})
                         for name, opts in fieldsets]
        if obj is None or roles.may_see(request.user, obj.category):
            return fieldsets
        # Others see that the request exists, its category and its clock: nothing it names.
        return [(name, {**opts, "fields": [f for f in opts["fields"] if f not in _PRIVATE_FIELDS]})
                for name, opts in fieldsets if name != "Requester"]

    def get_inlines(self, request, obj):
        if obj is not None and not roles.may_see(request.user, obj.category):
            return []
        return super().get_inlines(request, obj)

    def create(self, request, form):
        data = form.cleaned_data
        hotline = ({"hotline": data["hotline"], "report_id": data["hotline_report_id"]}
                   if data.get("hotline") else None)
        created = request_create(
            category=data["category"], identifiers=data["identifiers_csv"], actor=Actor.for_user(request.user),
            source=data["source"] or "staff", reference=data["reference"], notes=data["notes"],
            pdq_threshold=data["pdq_threshold"], hotline=hotline, dataset=data["dataset"], release=data["release"],
            intake=Intake(requester_name=data["requester_name"], requester_email=data["requester_email"]),
        )
        return created

    def update(self, request, obj, form):
        return request_notes_update(request=obj, notes=form.cleaned_data["notes"], actor=Actor.for_user(request.user))

    def has_add_permission(self, request):
        return roles.has_role(request.user, roles.INTAKE)

    def has_delete_permission(self, request, obj=None):
        return False  # a removal, once logged, is kept: reject it instead

    # ------------------------------------------------------------ bulk actions of the queue

    # The role each bulk action needs; the services check it again (and restricted for csam and ncii).
    _ACTION_ROLES = {"assign_to_me": roles.INTAKE, "unassign_selected": roles.INTAKE,
                     "triage_selected": roles.INTAKE, "approve_selected": roles.REVIEWER,
                     "reject_selected": roles.REVIEWER}

    def get_actions(self, request):
        held = roles.roles_of(request.user)
        return {name: action for name, action in super().get_actions(request).items()
                if self._ACTION_ROLES.get(name) in held}

    def _each(self, request, queryset, do: Callable, done: Callable[[int], str | None]) -> None:
        """Do `do(removal, actor)` to each selected request: each refusal is reported with its tracking id (the
        service's message never names what a csam or ncii request names) and the others are done."""
        actor = Actor.for_user(request.user)
        succeeded, refused = 0, []
        for removal in queryset.order_by("due_at", "id"):
            try:
                do(removal, actor)
                succeeded += 1
            except TakedownError as exc:
                refused.append(f"{removal.tracking_id}: {exc.message}")
        if succeeded and (text := done(succeeded)):
            self.message_user(request, text, messages.SUCCESS)
        for line in refused[:_MAX_REPORTED]:
            self.message_user(request, f"Not done: {line}", messages.ERROR)
        if len(refused) > _MAX_REPORTED:
            self.message_user(request, f"... and {len(refused) - _MAX_REPORTED} more not done.", messages.ERROR)

    @admin.action(description="Assign selected requests to me")
    def assign_to_me(self, request, queryset):
        self._each(request, queryset, lambda r, actor: request_assign(request=r, assignee=request.user, actor=actor),
                   lambda n: f"Assigned {n} request(s) to you.")

    @admin.action(description="Unassign selected requests")
    def unassign_selected(self, request, queryset):
        self._each(request, queryset, lambda r, actor: request_assign(request=r, assignee=None, actor=actor),
                   lambda n: f"Unassigned {n} request(s).")

    @admin.action(description="Move selected requests to triage")
    def triage_selected(self, request, queryset):
        self._each(request, queryset, lambda r, actor: request_transition(request=r, to=Status.TRIAGE, actor=actor,
                                                                          role=roles.INTAKE),
                   lambda n: f"Moved {n} request(s) to triage.")

    @admin.action(description="Approve selected requests and publish their blocklists")
    def approve_selected(self, request, queryset):
        waiting = []

        def approve(removal, actor):
            if request_approve(request=removal, actor=actor).status != Status.APPROVED:
                waiting.append(removal.tracking_id)

        self._each(request, queryset, approve, lambda n: f"Approved {n - len(waiting)} request(s); their blocklists "
                                                         "are being published." if n > len(waiting) else None)
        if waiting:
            self.message_user(request, f"Recorded your approval of {', '.join(waiting)}: a second reviewer must "
                                       "approve.", messages.WARNING)

    @admin.action(description="Reject selected requests, saying why")
    def reject_selected(self, request, queryset):
        """A page asking for the reason (as Django's delete asks to confirm), then each request rejected with it."""
        form = ReasonForm(request.POST if "post" in request.POST else None)
        if form.is_bound and form.is_valid():
            reason = form.cleaned_data["reason"]
            self._each(request, queryset, lambda r, actor: request_reject(request=r, actor=actor, reason=reason),
                       lambda n: f"Rejected {n} request(s).")
            return None
        return TemplateResponse(request, "admin/removals/removalrequest/reject_selected.html", {
            **self.admin_site.each_context(request), "title": "Reject requests", "opts": self.model._meta,
            "queryset": queryset.order_by("due_at", "id"), "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        })

    # ------------------------------------------------------------ actions on one request

    def _actions(self) -> dict[str, tuple[type[forms.Form] | None, Callable]]:
        """Each action of the request page: its form (None: a button) and what it does."""
        return {
            "approve": (None, lambda r, actor, data: request_approve(request=r, actor=actor)),
            "triage": (None, lambda r, actor, data: request_transition(request=r, to=Status.TRIAGE, actor=actor,
                                                                        role=roles.INTAKE)),
            "needs-info": (ReasonForm, lambda r, actor, data: request_needs_info(request=r, actor=actor,
                                                                                reason=data["reason"])),
            "reject": (ReasonForm, lambda r, actor, data: request_reject(request=r, actor=actor,
                                                                        reason=data["reason"])),
            "hotline": (HotlineForm, lambda r, actor, data: hotline_report_record(request=r, actor=actor, **data)),
            "dmca": (DmcaForm, lambda r, actor, data: legal.dmca_notice_record(request=r, actor=actor, **data)),
            "counter-notice": (CounterNoticeForm, lambda r, actor, data: legal.counter_notice_record(
                request=r, actor=actor, **data)),
            "lawsuit": (LawsuitForm, lambda r, actor, data: legal.lawsuit_record(
                notice=r.counter_notices.filter(restored_at=None).first() or _none("no open counter-notice"),
                actor=actor, reference=data["reference"])),
            "extend": (ExtensionForm, lambda r, actor, data: legal.erasure_extend(request=r, actor=actor, **data)),
            **self._data_actions(),
        }

    def _data_actions(self) -> dict[str, tuple[type[forms.Form] | None, Callable]]:
        """Actions on what the page shows: a match row's sample, matching itself, its runs, the removal."""
        return {
            "allow-list": (AllowSampleForm, _allow_sample),
            "rematch": (None, lambda r, actor, data: request_rematch(request=r, actor=actor)),
            "retry-run": (RunForm, _retry_run),
            "give-up-run": (RunForm, _give_up_run),
            "reinstate-now": (ReasonForm, lambda r, actor, data: legal.request_reinstate_now(
                request=r, actor=actor, reason=data["reason"])),
        }

    @staticmethod
    def _data_done(action: str, removal: RemovalRequest, result) -> str:
        return {
            "allow-list": lambda: f"Allow-listed {result}: the next blocklist version of {result.release} "
                                  "un-blocks it, and matching leaves it alone.",
            "rematch": lambda: f"{removal.tracking_id} will be matched again by a worker: its background work "
                               "below shows when.",
            "retry-run": lambda: "Queued the run again.",
            "give-up-run": lambda: "Gave up on the run: it is dead until someone retries it.",
            "reinstate-now": lambda: f"Reinstated {removal.tracking_id}: the next blocklist versions un-block its "
                                     "samples, and the mirrors are told.",
        }[action]()

    def get_urls(self):
        return [
            path("<int:pk>/do/<slug:action>/", self.admin_site.admin_view(self.action_view),
                 name="removals_removalrequest_action"),
            path("<int:pk>/recipients.csv", self.admin_site.admin_view(self.recipients_view),
                 name="removals_removalrequest_recipients"),
            *super().get_urls(),
        ]

    def action_view(self, request, pk, action):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        removal = get_object_or_404(RemovalRequest, pk=pk)
        back = HttpResponseRedirect(reverse("admin:removals_removalrequest_change", args=[pk]))
        if action not in self._actions():
            self.message_user(request, f"unknown action {action!r}", messages.ERROR)
            return back
        form_class, do = self._actions()[action]
        data = {}
        if form_class is not None:
            form = form_class(request.POST)
            if not form.is_valid():
                problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in form.errors.items())
                self.message_user(request, f"Nothing done: {problems}", messages.ERROR)
                return back
            data = form.cleaned_data
        try:
            result = do(removal, Actor.for_user(request.user), data)
        except TakedownError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return back
        removal.refresh_from_db()
        done = {
            "approve": f"Approved {removal.tracking_id}; its blocklists are being published."
            if removal.status == Status.APPROVED else
            f"Recorded your approval of {removal.tracking_id}; it needs a second reviewer.",
            "triage": f"{removal.tracking_id} is in triage.",
            "needs-info": f"{removal.tracking_id} was sent back for more information.",
            "reject": f"Rejected {removal.tracking_id}.",
            "hotline": f"Recorded the hotline report of {removal.tracking_id}.",
            "dmca": f"Recorded the DMCA notice of {removal.tracking_id}: it is now {removal.get_status_display()}.",
            "counter-notice": f"Recorded the counter-notice of {removal.tracking_id}.",
            "lawsuit": f"Recorded the lawsuit: {removal.tracking_id} stays removed.",
            "extend": f"Extended the deadline of {removal.tracking_id} to {removal.due_at:%Y-%m-%d}.",
        }
        self.message_user(request, done[action] if action in done else self._data_done(action, removal, result),
                          messages.SUCCESS)
        return back

    def recipients_view(self, request, pk):
        """GDPR Art. 19: every mirror told of the erasure, for the data subject."""
        removal = get_object_or_404(RemovalRequest, pk=pk)
        if not roles.has_role(request.user, roles.INTAKE) or not roles.may_see(request.user, removal.category):
            return HttpResponseRedirect(reverse("admin:index"))
        response = HttpResponse(content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{removal.tracking_id}-recipients.csv"'
        csv.writer(response).writerows(recipients_rows(request=removal, contact=True))
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        removal = self.get_object(request, object_id)
        if removal is not None:
            visible = roles.may_see(request.user, removal.category)
            held = roles.roles_of(request.user)
            groups, total = request_matches_grouped(request=removal) if visible else ([], removal.matches.count())
            extra_context.update(
                visible=visible, match_groups=groups, match_total=total,
                can_approve=removal.status in OPEN_STATUSES and roles.REVIEWER in held and visible,
                can_triage=removal.status in (Status.RECEIVED, Status.NEEDS_INFO, Status.REJECTED)
                and roles.INTAKE in held,
                can_decide=removal.status in OPEN_STATUSES and roles.REVIEWER in held and visible,
                can_ask=removal.status in (Status.RECEIVED, Status.TRIAGE) and roles.INTAKE in held and visible,
                can_hotline=removal.category == Category.CSAM and roles.INTAKE in held and visible
                and not hasattr(removal, "hotline_report"),
                can_dmca=removal.category == Category.COPYRIGHT and roles.INTAKE in held
                and removal.status in OPEN_STATUSES,
                can_counter=removal.category == Category.COPYRIGHT and roles.LEGAL in held
                and removal.status in (Status.PUBLISHED, Status.COMPLETED),
                can_lawsuit=roles.LEGAL in held and removal.counter_notices.filter(restored_at=None).exists(),
                can_extend=removal.category == Category.PRIVACY and roles.LEGAL in held
                and not hasattr(removal, "erasure_extension"),
                approvals=removal.approvals.all() if visible else [],
                approval_count=removal.approvals.count(),
                hotline_report=getattr(removal, "hotline_report", None),
                dmca=getattr(removal, "dmca_notice", None), counter_notices=removal.counter_notices.all(),
                extension=getattr(removal, "erasure_extension", None),
                domain_claims=removal.domain_claims.all() if visible else [],
                audit_events=audit_events_for(removal), show_actors=visible,
                pending_releases=request_pending_releases(request=removal),
                versions=removal.blocklist_versions.select_related("release__dataset"),
                mirror_states=request_mirror_states(request=removal),
                hotline_form=_outside(HotlineForm(), "hotline-form"),
                dmca_form=_outside(DmcaForm(initial=legal.dmca_notice_fields(removal)), "dmca-form"),
                counter_form=_outside(CounterNoticeForm(), "counter-form"),
                lawsuit_form=_outside(LawsuitForm(), "lawsuit-form"),
                extension_form=_outside(ExtensionForm(), "extend-form"),
                outside_forms=[("hotline", "hotline-form"), ("dmca", "dmca-form"), ("counter-notice", "counter-form"),
                               ("lawsuit", "lawsuit-form"), ("extend", "extend-form")],
                recipients_url=reverse("admin:removals_removalrequest_recipients", args=[removal.pk])
                if removal.category == Category.PRIVACY and visible else None,
            )
            extra_context.update(self._data_context(request, removal, visible, held, groups))
        return super().change_view(request, object_id, form_url, extra_context)

    def _data_context(self, request, removal: RemovalRequest, visible: bool, held: set[str], groups) -> dict:
        """What the page's actions on its data need: allow-list marks on match rows, the runs' states and
        whether any worker is alive, what unmatched identifiers missed by, and who may do what."""
        matches = [m for group in groups for shard in group.shards for m in shard.matches]
        entries = {(e.release_id, e.key): e for e in AllowListEntry.objects.filter(
            scope=AllowListEntry.Scope.SAMPLE, revoked_at=None, release_id__in={m.release_id for m in matches},
            key__in={m.key for m in matches})} if matches else {}
        for match in matches:
            match.allow_entry = entries.get((match.release_id, match.key))
        states = [s for s in run_states(runs_for_objects(key="request", ids=[removal.pk])) if s.state != "done"]
        matched_statuses = (*OPEN_STATUSES, *BLOCKING_STATUSES)
        return {
            "run_states": states,
            "no_worker": (bool(states) or removal.matched_at is None) and not workers_alive(),
            "can_allow_list": visible and roles.REVIEWER in held,
            "can_rematch": roles.INTAKE in held and removal.status in matched_statuses,
            "can_run_actions": roles.REVIEWER in held,
            "can_reinstate_now": roles.LEGAL in held and visible and removal.category != Category.CSAM
            and removal.status in (Status.PUBLISHED, Status.COMPLETED),
            "csam_never_reinstated": roles.LEGAL in held and removal.category == Category.CSAM
            and removal.status in (Status.PUBLISHED, Status.COMPLETED),
            "unmatched": _unmatched_explained(removal) if visible else [],
        }


def _none(message: str):
    raise TakedownError(message)
