"""What the mirrors stage records."""
from apps.events.registry import declare

MIRROR_ACKNOWLEDGED = declare(
    "mirror.acknowledged", "A mirror reported applying (or failing to apply) a blocklist version (payload: mirror, "
    "release, version, status).", producer="mirrors")
