"""What the datasets stage records."""
from apps.events.registry import declare

SHARD_QUEUED = declare(
    "shard.queued", "A shard of a release imported in the background waits to be indexed (payload: shard, "
    "release).", producer="datasets")
RELEASE_INDEXED = declare(
    "release.indexed", "Every shard of a release is indexed: its index can be finalized (payload: release).",
    producer="datasets")
RELEASE_READY = declare(
    "release.ready", "A release's index is built and it can be matched (payload: release, shards, samples).",
    producer="datasets")
