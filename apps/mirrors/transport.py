"""The one way out for webhooks: signed POSTs that refuse private addresses and redirects, each bounded in time."""
import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from standardwebhooks.webhooks import Webhook

from apps.core import net

# How much of a receiver's answer is read (and kept, cut shorter, on the attempt row).
EXCERPT_BYTES = 4096


@dataclass
class Outcome:
    status_code: int | None
    duration_ms: int
    body_excerpt: str = ""
    error: str = ""
    retry_after: float | None = None  # seconds, when the receiver answered a Retry-After header


async def post_signed_async(*, url: str, secret: str, msg_id: str, payload: dict, timeout: float) -> Outcome:
    """POST a JSON payload signed the Standard Webhooks way; never follows redirects.

    The whole attempt (the address check, connecting, sending, the answer) has
    ``timeout`` seconds: a receiver that trickles its answer byte by byte is cut
    off like one that never answers. The host name is resolved once: the
    connection goes to the address that passed the public-address check. Raises
    net.Refused for URLs that must not be called; network failures come back as
    an Outcome with no status code.
    """
    started = time.monotonic()
    try:
        return await asyncio.wait_for(_post(url, secret, msg_id, payload, timeout, started), timeout)
    except TimeoutError:
        return Outcome(None, _ms(started), error=f"TimeoutError: no complete answer within {timeout:g} s")


async def _post(url: str, secret: str, msg_id: str, payload: dict, timeout: float, started: float) -> Outcome:
    # A name lookup blocks: in a thread, not in the loop that sends the other webhooks.
    address = await asyncio.to_thread(net.check_public_url, url) if net.needs_lookup(url) else net.check_public_url(url)
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True)
    now = datetime.now(tz=UTC)
    headers = {
        "content-type": "application/json",
        "user-agent": "takedown-webhooks/1.0",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
    }
    try:
        async with net.pinned_async_client(address, timeout=timeout) as client, \
                client.stream("POST", url, content=body.encode(), headers=headers) as response:
            excerpt = b""
            async for chunk in response.aiter_bytes():  # only the start of a large answer
                excerpt += chunk
                if len(excerpt) >= EXCERPT_BYTES:
                    break
    except httpx.HTTPError as exc:
        return Outcome(None, _ms(started), error=f"{type(exc).__name__}: {exc}"[:500])
    return Outcome(response.status_code, _ms(started), excerpt[:EXCERPT_BYTES].decode("utf-8", "replace"),
                   retry_after=retry_after_seconds(response.headers.get("retry-after")))


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from now; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(tz=UTC))).total_seconds())


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
