"""What the blocklists stage records."""
from apps.events.registry import declare

BLOCKLIST_PUBLISHED = declare(
    "blocklist.published", "A new signed blocklist version of a release was published (payload: version id, "
    "dataset and release names, its number and key counts).", producer="blocklists")
