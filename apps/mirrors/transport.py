"""The one way out for webhooks: signed POSTs that refuse private addresses and redirects."""
import ipaddress
import json
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from standardwebhooks.webhooks import Webhook


class DeliveryRefused(Exception):
    """The URL may not be called (bad scheme, private address); retrying will not help."""


@dataclass
class Outcome:
    status_code: int | None
    duration_ms: int
    body_excerpt: str = ""
    error: str = ""


def _check_address(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryRefused(f"not an http(s) URL: {url[:200]}")
    if settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise DeliveryRefused(f"cannot resolve {parts.hostname}: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
                or address.is_reserved or address.is_unspecified):
            raise DeliveryRefused(
                f"{parts.hostname} resolves to the non-public address {address} "
                "(set WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=true to allow it)"
            )


def post_signed(*, url: str, secret: str, msg_id: str, payload: dict) -> Outcome:
    """POST a JSON payload signed the Standard Webhooks way; never follows redirects.

    Raises DeliveryRefused for URLs that must not be called; network failures
    come back as an Outcome with no status code.
    """
    _check_address(url)
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    now = datetime.now(tz=UTC)
    headers = {
        "content-type": "application/json",
        "user-agent": "takedown-webhooks/1.0",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
    }
    started = time.monotonic()
    try:
        response = httpx.post(url, content=body.encode(), headers=headers,
                              timeout=settings.WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False)
    except httpx.HTTPError as exc:
        return Outcome(None, int((time.monotonic() - started) * 1000), error=f"{type(exc).__name__}: {exc}"[:500])
    return Outcome(response.status_code, int((time.monotonic() - started) * 1000), response.text[:1000])
