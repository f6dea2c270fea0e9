"""Per-client rate limits for the public form, counted in Django's cache.

A fixed one-hour window per client IP and scope. The default cache
(LocMemCache) counts per process; production runs several web processes and
needs a shared cache (Redis, Memcached) in CACHES for a limit to hold across them.
"""
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

WINDOW_SECONDS = 3600


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    retry_after: int  # seconds until the window resets


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or behind TRUSTED_PROXIES proxies the address the first one saw.

    Each proxy appends the address it received from to X-Forwarded-For, so with
    N trusted proxies the client is the Nth entry from the right; entries further
    left were written by the client and are never trusted.
    """
    proxies = settings.TRUSTED_PROXIES
    if proxies:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR") or "unknown"


def hit(*, scope: str, ip: str, limit: int) -> Verdict:
    """Count one attempt; refuse it when the client already made `limit` in this window."""
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now))
    key = f"intake:ratelimit:{scope}:{ip}:{window}"
    # add() is a no-op when the key exists; incr() is atomic on shared caches.
    cache.add(key, 0, timeout=WINDOW_SECONDS + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, timeout=WINDOW_SECONDS + 60)
        count = 1
    return Verdict(allowed=count <= limit, limit=limit, retry_after=retry_after)
