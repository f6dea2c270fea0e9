import csv
from collections.abc import Callable

from django import forms
from django.contrib import admin, messages
from django.db.models import Case, Count, F, Q, Value, When
from django.http import HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.audit.selectors import audit_events_for
from apps.core import roles
from apps.core.actors import Actor
from apps.core.admin import ServiceAdmin
from apps.core.categories import RESTRICTED_CATEGORIES, Category
from apps.core.errors import TakedownError
from apps.core.forms import CheckedForm, CheckedModelForm
from apps.core.identifiers import parse_identifiers_csv
from apps.events.selectors import runs_for_objects
from apps.matching.selectors import request_matches_grouped, request_pending_releases
from apps.mirrors.selectors import recipients_rows
from apps.removals import deadlines, legal
from apps.removals.models import OPEN_STATUSES, Channel, HotlineReport, Identifier, Policy, RemovalRequest, Status
from apps.removals.policy import identifiers_check
from apps.removals.services import (
    Intake,
    hotline_report_record,
    request_approve,
    request_create,
    request_needs_info,
    request_notes_update,
    request_reject,
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


def _outside(form: forms.Form, form_id: str) -> forms.Form:
    """Bind a form's inputs to a <form> placed after the change form (forms cannot nest)."""
    for field in form.fields.values():
        field.widget.attrs["form"] = form_id
    return form


# Fields only staff who may see the category see: the requester and what they named.
# What a csam or ncii request names or who sent and approved it: restricted staff only.
_PRIVATE_FIELDS = ["flagger", "flagger_name", "source", "reference", "notes", "requester_name", "requester_email",
                   "requester_details", "approved_by_label", "decision_reason"]
# Searching by these finds a csam or ncii request only for restricted staff (anyone may search by tracking id).
_PRIVATE_SEARCH = ["reference", "source"]


@admin.register(RemovalRequest)
class RemovalRequestAdmin(ServiceAdmin):
    list_display = ["tracking_id", "category", "status", "channel", "origin", "received_at", "due",
                    "identifier_total", "match_total"]
    list_filter = ["status", "category", DueFilter, "channel", "received_at"]
    search_fields = ["tracking_id", "reference", "source"]
    date_hierarchy = "received_at"
    actions = ["approve_selected"]
    inlines = [IdentifierInline]
    change_form_template = "admin/removals/removalrequest/change_form.html"
    readonly_fields = ["tracking_id", "category", "scope", "status", "channel", "flagger", "source", "reference",
                       "pdq_threshold", "requester_name", "requester_email", "requester_details", "received_at",
                       "due_at", "legal_hold_until", "approved_at", "approved_by_label", "decided_at",
                       "decision_reason", "matched_at", "published_at", "completed_at", "reinstated_at",
                       "flood_held_at", "flood_samples", "flood_detail", "flood_released_at", "flood_released_by_label",
                       "flagger_name"]
    fieldsets = [
        (None, {"fields": ["tracking_id", "category", "scope", "status", "channel", "flagger", "source",
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
        return super().get_queryset(request).annotate(
            identifier_n=Count("identifiers", distinct=True), match_n=Count("matches", distinct=True),
            origin_text=origin,
        )

    @admin.display(description="identifiers", ordering="identifier_n")
    def identifier_total(self, obj):
        return obj.identifier_n

    @admin.display(description="matches", ordering="match_n")
    def match_total(self, obj):
        return obj.match_n

    @admin.display(description="applies to")
    def scope(self, obj):
        return obj.scope

    def _flaggers_admin(self):
        return self.admin_site._registry[RemovalRequest._meta.get_field("flagger").related_model]

    @admin.display(description="flagger")
    def flagger_name(self, obj):
        return obj.flagger.name if obj.flagger_id else "-"

    @admin.display(description="source")
    def origin(self, obj):
        return obj.origin_text

    @admin.display(description="due", ordering="due_at")
    def due(self, obj):
        if obj.status in deadlines.WAITING and obj.due_at < timezone.now():
            return format_html('<strong style="color:#ba2121">{} (overdue)</strong>', f"{obj.due_at:%Y-%m-%d %H:%M}")
        return f"{obj.due_at:%Y-%m-%d %H:%M}"

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

    @admin.action(description="Approve selected requests and publish their blocklists")
    def approve_selected(self, request, queryset):
        approved = 0
        for removal in queryset:
            try:
                request_approve(request=removal, actor=Actor.for_user(request.user))
                approved += 1
            except TakedownError as exc:
                self.message_user(request, exc.message, messages.WARNING)
        if approved:
            self.message_user(request, f"Approved {approved} request(s); their blocklists are being published.",
                              messages.SUCCESS)

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
        }

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
            do(removal, Actor.for_user(request.user), data)
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
        self.message_user(request, done[action], messages.SUCCESS)
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
                background=[run for run in runs_for_objects(key="request", ids=[removal.pk])
                            if run.status != run.Status.DONE],
                unmatched=removal.identifiers.filter(match_count=0) if visible else [],
                pending_releases=request_pending_releases(request=removal),
                versions=removal.blocklist_versions.select_related("release__dataset"),
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
        return super().change_view(request, object_id, form_url, extra_context)


def _none(message: str):
    raise TakedownError(message)
