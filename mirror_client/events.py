"""The shape of feed events and webhook payloads: checked before anything acts on them or moves past them."""

from __future__ import annotations

import re

PUBLISHED = "blocklist.published"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _is_int(value: object) -> bool:
    return type(value) is int  # not bool, not float


def published_problem(fields: dict) -> str | None:
    """What is wrong with the fields of a ``blocklist.published`` announcement, or None when they are sound."""
    for name in ("dataset", "release"):
        if not isinstance(fields.get(name), str) or not fields[name]:
            return f"{name} is {_shown(fields.get(name))}, not a name"
    version = fields.get("version")
    if not _is_int(version) or version < 1:
        return f"version is {_shown(version)}, not a positive whole number"
    digest = fields.get("manifest_sha256")
    if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
        return f"manifest_sha256 is {_shown(digest)}, not 64 lower-case hex digits"
    return None


def feed_event_problem(event: object) -> str | None:
    """What is wrong with one feed event, or None when it is sound.

    Every event needs an integer ``id`` and a string ``type``; a
    ``blocklist.published`` event also needs sound announcement fields. Events of
    other types are not looked into: a newer host may add some.
    """
    if not isinstance(event, dict):
        return f"is {_shown(event)}, not an object"
    if not _is_int(event.get("id")):
        return f"id is {_shown(event.get('id'))}, not a whole number"
    if not isinstance(event.get("type"), str):
        return f"type is {_shown(event.get('type'))}, not a string"
    if event["type"] == PUBLISHED:
        return published_problem(event)
    return None


def _shown(value: object) -> str:
    if value is None:
        return "missing"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
