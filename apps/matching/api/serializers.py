from rest_framework import serializers

from apps.core import identifiers, pdq
from apps.core.api.serializers import one_line

MAX_IDENTIFIERS = 100_000


class PreviewOptionsSerializer(serializers.Serializer):
    """What to search and how: fields of a JSON body, or query parameters with a text/csv body."""

    dataset = serializers.CharField(
        max_length=100, required=False, allow_null=True, validators=[one_line],
        help_text="Search only this dataset's ready releases (default: every ready release).",
    )
    release = serializers.CharField(
        max_length=100, required=False, allow_null=True, validators=[one_line],
        help_text="Search only this release of `dataset` (needs `dataset`).",
    )
    threshold = serializers.IntegerField(
        min_value=0, max_value=pdq.MAX_THRESHOLD, required=False, allow_null=True,
        help_text=f"PDQ Hamming distance threshold, 0 to {pdq.MAX_THRESHOLD} (default: the PDQ_MATCH_THRESHOLD "
                  "setting, normally 31).",
    )
    expand = serializers.BooleanField(
        default=False, help_text="Also list samples with the same image hash as a URL, key or domain hit.",
    )

    def validate(self, attrs):
        if attrs.get("release") and not attrs.get("dataset"):
            raise serializers.ValidationError({"release": "a release needs its dataset: give dataset too"})
        return attrs


class PreviewIdentifierSerializer(serializers.Serializer):
    kind = serializers.CharField(help_text=f"One of: {', '.join(identifiers.KINDS)} (case and - or _ ignored).")
    value = serializers.CharField(help_text="Normalised as in removal files: URLs canonicalised, hex lower-cased.")


class PreviewInputSerializer(PreviewOptionsSerializer):
    """The JSON body. Documents the shape; the view validates identifiers itself, all of them in one pass."""

    identifiers = PreviewIdentifierSerializer(
        many=True, help_text=f"At most {MAX_IDENTIFIERS:,}; any invalid one fails the whole request.",
    )


class PreviewMatchSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    release = serializers.CharField()
    shard = serializers.CharField()
    key = serializers.CharField()
    kind = serializers.CharField(help_text="The identifier's kind.")
    value = serializers.CharField(help_text="The identifier's value, normalised.")
    distance = serializers.IntegerField(help_text="PDQ Hamming distance; 0 for exact hits.")
    expanded = serializers.BooleanField(help_text="Reached through the same image hash as a direct hit.")
    via = serializers.CharField(help_text="For expanded hits, the hash kind that linked them; else empty.")
    index = serializers.IntegerField(
        help_text="The identifier's position: in `identifiers` (JSON), or among the CSV's identifiers.")
    line = serializers.IntegerField(allow_null=True, help_text="The identifier's CSV line; null for JSON.")


class PreviewItemSerializer(serializers.Serializer):
    """An identifier of the request, by position."""

    index = serializers.IntegerField()
    kind = serializers.CharField()
    value = serializers.CharField()
    line = serializers.IntegerField(allow_null=True)


class SearchedReleaseSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    release = serializers.CharField()


class UnsearchedReleaseSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    release = serializers.CharField()
    status = serializers.CharField(help_text="indexing or failed.")
    state = serializers.CharField(help_text="How far it got, for example 'indexing, 12 of 40 shards'.")


class PreviewSerializer(serializers.Serializer):
    identifiers = serializers.IntegerField(
        help_text="How many identifiers were read (a CSV's repeated lines count once).")
    matches = PreviewMatchSerializer(many=True, help_text="Sorted by dataset, release, shard, key, index.")
    unmatched = PreviewItemSerializer(
        many=True, help_text="Identifiers that hit nothing in `releases_searched`, by index; they may still hit "
                             "a release of `releases_pending`.")
    allow_listed = PreviewItemSerializer(
        many=True, help_text="Identifiers on the allow-list (known false positives), left out of matching; by index.")
    releases_searched = SearchedReleaseSerializer(many=True)
    releases_pending = UnsearchedReleaseSerializer(
        many=True, help_text="Releases (of `dataset`, if given) not searched because they are not ready yet: "
                             "still indexing, or failed.")
