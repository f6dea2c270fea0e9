from rest_framework import serializers

from apps.core.api.serializers import one_line
from apps.mirrors.models import Acknowledgement
from apps.mirrors.selectors import FEED_MAX_LIMIT


class FeedQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(min_value=0, default=0, help_text="Last cursor processed; 0 to start.")
    limit = serializers.IntegerField(min_value=1, max_value=FEED_MAX_LIMIT, default=100)


class FeedEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    type = serializers.CharField()
    created_at = serializers.DateTimeField()
    dataset = serializers.CharField()
    release = serializers.CharField()
    version = serializers.IntegerField()
    manifest_sha256 = serializers.CharField()
    manifest_url = serializers.URLField()
    signature_url = serializers.URLField()
    files_url = serializers.URLField()
    delta_base_version = serializers.IntegerField(
        allow_null=True, help_text="The version this one's delta is against; null for a release's first.")


class FeedPageSerializer(serializers.Serializer):
    events = FeedEventSerializer(many=True)
    more = serializers.BooleanField()
    next = serializers.IntegerField()


class FeedResyncSerializer(serializers.Serializer):
    detail = serializers.CharField()
    resync = serializers.BooleanField()
    cursor = serializers.IntegerField(help_text="Continue from this cursor once the latest versions are applied.")
    latest = FeedEventSerializer(many=True, help_text="Each subscribed release's newest version, to apply in full.")


class ShardDigestSerializer(serializers.Serializer):
    shard = serializers.CharField()
    parquet_sha256 = serializers.CharField()


class ReleaseSerializer(serializers.Serializer):
    release = serializers.CharField()
    latest_version = serializers.IntegerField(allow_null=True)
    shard_count = serializers.IntegerField()
    shards = ShardDigestSerializer(many=True)


class ReleasesSerializer(serializers.Serializer):
    dataset = serializers.CharField()
    releases = ReleaseSerializer(many=True)


class VersionSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    key_count = serializers.IntegerField()
    shard_count = serializers.IntegerField()
    manifest_sha256 = serializers.CharField()
    manifest_url = serializers.URLField()


class AckInputSerializer(serializers.Serializer):
    dataset = serializers.CharField(max_length=100, validators=[one_line])
    release = serializers.CharField(max_length=100, validators=[one_line])
    version = serializers.IntegerField(min_value=1)
    status = serializers.ChoiceField(choices=Acknowledgement.Status.choices)
    detail = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class AckSerializer(serializers.Serializer):
    mirror = serializers.CharField(source="mirror.name")
    dataset = serializers.CharField(source="blocklist.release.dataset.name")
    release = serializers.CharField(source="blocklist.release.name")
    version = serializers.IntegerField(source="blocklist.version")
    status = serializers.CharField()
    detail = serializers.CharField()
    recorded_at = serializers.DateTimeField(source="updated_at")


class MeSerializer(serializers.Serializer):
    name = serializers.CharField()
    datasets = serializers.ListField(child=serializers.CharField())
