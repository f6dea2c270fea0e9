"""The one way out to hosts we do not control: public addresses only, no redirects, bounded."""
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx
from django.conf import settings


class Refused(Exception):
    """The URL may not be called (bad scheme, private address); trying again will not help."""


def check_public_url(url: str) -> None:
    """Refuse URLs that are not http(s) or whose host resolves to a private, loopback or link-local address.

    WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=true lets them through (tests on loopback).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"not an http(s) URL: {url[:200]}")
    if settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise Refused(f"cannot resolve {parts.hostname}: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
                or address.is_reserved or address.is_unspecified):
            raise Refused(
                f"{parts.hostname} resolves to the non-public address {address} "
                "(set WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=true to allow it)"
            )


def fetch_text(url: str, *, max_bytes: int = 64_000) -> str:
    """GET a small text resource from a public host; Refused or httpx.HTTPError on failure."""
    check_public_url(url)
    with httpx.stream("GET", url, timeout=settings.WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False,
                      headers={"user-agent": "takedown/1.0"}) as response:
        if response.status_code != 200:
            raise Refused(f"{url} answered {response.status_code}")
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise Refused(f"{url} is larger than {max_bytes} bytes")
    return body.decode("utf-8", "replace")
