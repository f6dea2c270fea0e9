"""The one way out for webhooks: signed POSTs that refuse private addresses and redirects."""
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from apps.core import net


@dataclass
class Outcome:
    status_code: int | None
    duration_ms: int
    body_excerpt: str = ""
    error: str = ""


def post_signed(*, url: str, secret: str, msg_id: str, payload: dict) -> Outcome:
    """POST a JSON payload signed the Standard Webhooks way; never follows redirects.

    The host name is resolved once: the connection goes to the address that
    passed the public-address check. Raises net.Refused for URLs that must not
    be called; network failures come back as an Outcome with no status code.
    """
    address = net.check_public_url(url)
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
        with net.pinned_client(address, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as client:
            response = client.post(url, content=body.encode(), headers=headers)
    except httpx.HTTPError as exc:
        return Outcome(None, int((time.monotonic() - started) * 1000), error=f"{type(exc).__name__}: {exc}"[:500])
    return Outcome(response.status_code, int((time.monotonic() - started) * 1000), response.text[:1000])
