from rest_framework import serializers

from apps.core import identifiers
from apps.core.api.serializers import one_line, sane_moment
from apps.core.categories import Category
from apps.intake.flaggers import MAX_IDENTIFIERS
from apps.removals.models import HotlineReport, Status


class HotlineSerializer(serializers.Serializer):
    """The hotline report a csam request was filed with (18 USC 2258A and its equivalents)."""

    hotline = serializers.ChoiceField(choices=HotlineReport.Hotline.choices)
    report_id = serializers.CharField(max_length=200, validators=[one_line],
                                      help_text="The hotline's id for the report.")
    reported_at = serializers.DateTimeField(
        required=False, allow_null=True, validators=[sane_moment],
        help_text="When it was reported (ISO 8601; default: now). Not in the future (a few "
                  "minutes of clock skew aside), not before 1990.")
    hotline_name = serializers.CharField(
        max_length=200, required=False, allow_blank=True, validators=[one_line],
        help_text="The hotline's name, when `hotline` is other.")


class SubmissionOptionsSerializer(serializers.Serializer):
    """Everything but the identifiers: fields of a JSON body, or query parameters with a text/csv body."""

    category = serializers.ChoiceField(choices=Category.choices)
    reference = serializers.CharField(
        max_length=200, validators=[one_line],
        help_text="Your own reference. Sending it again returns the request already logged.")
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=10_000)
    dataset = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100, validators=[one_line],
        help_text="Apply only to this dataset's releases (blank: every dataset). Required with key identifiers: "
                  "keys are positional, the same key names different samples in different datasets.")
    release = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=100, validators=[one_line],
        help_text="With dataset: apply only to this release of it.")
    hotline = HotlineSerializer(required=False, allow_null=True,
                                help_text="csam only: the hotline report (with CSV: query parameters hotline, "
                                          "hotline_report_id, hotline_reported_at, hotline_name).")


class SubmissionIdentifierSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text=f"One of: {', '.join(identifiers.KINDS)} (case and - or _ ignored).")
    value = serializers.CharField(help_text="Normalised: URLs canonicalised, hex lower-cased.")


class SubmissionSerializer(SubmissionOptionsSerializer):
    """The JSON body. Documents the shape; the view validates identifiers itself, all of them in one pass."""

    identifiers = SubmissionIdentifierSerializer(
        many=True, help_text=f"At most {MAX_IDENTIFIERS:,}; any invalid one fails the whole request, and each "
                             "is named by its index. Repeats are kept once.",
    )


class SubmissionResultSerializer(serializers.Serializer):
    tracking_id = serializers.CharField()
    reference = serializers.CharField()
    # Not an enum here: a second "status" enum beside the mirrors' would collide in the schema.
    status = serializers.CharField(help_text=f"One of: {', '.join(Status.values)} (received, or approved when a "
                                             "csam request from a hotline is approved on receipt).")
    category = serializers.ChoiceField(choices=Category.choices)
    due_at = serializers.DateTimeField()
    identifiers = serializers.IntegerField(help_text="Identifiers the request holds (repeats counted once).")
    created = serializers.BooleanField(help_text="False when the reference was already used: the request "
                                                 "returned is the one logged then.")
    identical = serializers.BooleanField(help_text="Whether this submission's category, scope and identifiers are the "
                                                   "ones the request holds (always true when created).")


class ReleaseMatchesSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    release = serializers.CharField()
    matches = serializers.IntegerField(help_text="Samples of the release the request's identifiers hit.")


class ReleaseNotMatchedSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    release = serializers.CharField()
    state = serializers.CharField(help_text="Where it stands: 'indexing, 12 of 40 shards', 'failed to index', or "
                                            "'ready, being matched'.")
    detail = serializers.CharField(help_text="In words, e.g. 'not yet matched against demo/2026-12 (indexing, "
                                             "12 of 40 shards)'.")


class HotlineReportSerializer(serializers.Serializer):
    hotline = serializers.CharField()
    hotline_name = serializers.CharField()
    report_id = serializers.CharField()
    reported_at = serializers.DateTimeField()


class FloodHoldSerializer(serializers.Serializer):
    held_at = serializers.DateTimeField()
    samples = serializers.IntegerField(help_text="Samples the request would remove, as counted when it was held.")
    detail = serializers.CharField(help_text="Which limit it exceeds, with the counts.")
    released_at = serializers.DateTimeField(allow_null=True,
                                            help_text="When a reviewer approved it after seeing the count.")


class RequestStatusSerializer(serializers.Serializer):
    """A flagger's view of its own request: where it stands, and what it hits."""

    tracking_id = serializers.CharField()
    reference = serializers.CharField()
    category = serializers.ChoiceField(choices=Category.choices)
    status = serializers.ChoiceField(choices=Status.choices)
    received_at = serializers.DateTimeField()
    due_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    decision_reason = serializers.CharField(help_text="Why it was rejected, or what information it needs.")
    matched_at = serializers.DateTimeField(allow_null=True, help_text="When it was last matched.")
    published_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True, help_text="When every mirror had applied it.")
    identifiers = serializers.IntegerField()
    dataset = serializers.CharField(allow_null=True, help_text="The dataset it applies to (null: every dataset).")
    release = serializers.CharField(allow_null=True,
                                    help_text="The release of that dataset it applies to (null: every release).")
    hotline = HotlineReportSerializer(allow_null=True)
    flood_hold = FloodHoldSerializer(
        allow_null=True, help_text="Set when the request would remove more samples than your flood limits allow: "
                                   "it waits for a reviewer, even where it would be approved on receipt.")
    releases = ReleaseMatchesSerializer(many=True, help_text="Releases with matches, by dataset and release.")
    releases_pending = ReleaseNotMatchedSerializer(
        many=True, help_text="Releases the request was not matched against yet (still indexing, failed, or just "
                             "ready): it is matched against each once it is ready. Empty when its matches are final.")


class RequestLookupSerializer(serializers.Serializer):
    reference = serializers.CharField(max_length=200, validators=[one_line],
                                      help_text="Your reference for the request.")
