"""Per-client rate limits, counted in Django's cache: the public form's posts, failed API token logins.

A fixed window per client IP and scope. The default cache (LocMemCache) counts
per process, which is enough for `./run`'s one web process; production runs
several and needs a shared cache (CACHE_URL, Redis) for a limit to hold across them.
"""
import ipaddress
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


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


def client_address(request) -> str | None:
    """client_ip() when it is an IP address, else None (no REMOTE_ADDR, as from a unix socket, or a proxy that
    forwarded something else): for records stored in an IP address column (django-axes' login records)."""
    ip = client_ip(request)
    try:
        return str(ipaddress.ip_address(ip))
    except ValueError:
        return None


def _window(window_seconds: int) -> tuple[int, int]:
    """The current window's number and the seconds until it ends."""
    now = time.time()
    number = int(now // window_seconds)
    return number, max(1, int((number + 1) * window_seconds - now))


def _key(scope: str, ip: str, number: int) -> str:
    return f"ratelimit:{scope}:{ip}:{number}"


def hit(*, scope: str, ip: str, limit: int, window_seconds: int = 3600) -> Verdict:
    """Count one attempt; refuse it when the client already made `limit` in this window."""
    number, retry_after = _window(window_seconds)
    key = _key(scope, ip, number)
    # add() is a no-op when the key exists; incr() is atomic on shared caches.
    cache.add(key, 0, timeout=window_seconds + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add() and incr()
        cache.set(key, 1, timeout=window_seconds + 60)
        count = 1
    return Verdict(allowed=count <= limit, limit=limit, retry_after=retry_after)


def check(*, scope: str, ip: str, limit: int, window_seconds: int = 3600) -> Verdict:
    """Whether the client is still under `limit` in this window, counting nothing (one cache read)."""
    number, retry_after = _window(window_seconds)
    count = cache.get(_key(scope, ip, number), 0)
    return Verdict(allowed=count < limit, limit=limit, retry_after=retry_after)
