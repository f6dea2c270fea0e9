"""What the matching stage records."""
from apps.events.registry import declare

REQUEST_MATCHED = declare(
    "request.matched", "A request was matched against every ready release of its scope (payload: request, "
    "samples hit, whether the flood check held it for a reviewer, matches, new matches, releases hit, identifiers "
    "that matched nothing, releases it waits for: still indexing, failed, or not caught up yet).",
    producer="matching")
RELEASE_MATCHED = declare(
    "release.matched", "A newly ready release was matched against every request under review or approved (payload: "
    "release, requests that hit it).", producer="matching")
ALLOW_LIST_CHANGED = declare(
    "allow_list.changed", "An allow-list entry was added or revoked (payload: entry, the releases whose "
    "blocklists carried it).", producer="matching")
