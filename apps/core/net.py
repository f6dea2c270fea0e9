"""The one way out to hosts we do not control: public addresses only, no redirects, bounded."""
import functools
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

import httpcore
import httpx
from django.conf import settings


class Refused(Exception):
    """The URL may not be called (bad scheme, private address); trying again will not help."""


class LookupFailed(Refused):
    """The host name did not resolve: not called this time, but DNS may answer later."""


def needs_lookup(url: str) -> bool:
    """Whether check_public_url(url) may wait on a name lookup (not for an address, nor when all are allowed)."""
    if settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES:
        return False
    try:
        ipaddress.ip_address(urlsplit(url).hostname or "")
    except ValueError:
        return True
    return False


def check_public_url(url: str) -> str | None:
    """Refuse URLs that are not http(s) or whose host resolves to a private, loopback or link-local address.

    Returns the checked address to connect to (see pinned_client), or None when
    WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=true lets every address through (tests on loopback).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"not an http(s) URL: {url[:200]}")
    if settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES:
        return None
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise LookupFailed(f"cannot resolve {parts.hostname}: {exc.strerror}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
                or address.is_reserved or address.is_unspecified):
            raise Refused(
                f"{parts.hostname} resolves to the non-public address {address} "
                "(set WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=true to allow it)"
            )
    return infos[0][4][0]


class _PinnedBackend(httpcore.SyncBackend):
    """Connects to one address whatever the host name: the name is not resolved a second time."""

    def __init__(self, address: str):
        self.address = address

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return super().connect_tcp(self.address, port, timeout=timeout, local_address=local_address,
                                   socket_options=socket_options)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs milliseconds of CPU: once per process, not once per webhook.
    return httpx.create_ssl_context()


def pinned_client(address: str | None, *, timeout: float) -> httpx.Client:
    """An HTTP client that connects only to `address` (when given), as checked by check_public_url.

    Without this, the host name would be resolved again when connecting, and a
    name that answered a public address to the check could answer a private one
    to the connection (DNS rebinding). TLS still verifies the certificate for the
    URL's host name. Proxies from the environment are ignored: they would connect
    to a host we did not check.
    """
    transport = httpx.HTTPTransport(verify=_ssl_context(), retries=0)
    if address is not None:
        # httpx has no public hook for name resolution; its connection pool takes a network backend.
        transport._pool = httpcore.ConnectionPool(ssl_context=_ssl_context(), network_backend=_PinnedBackend(address))
    return httpx.Client(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)


class _PinnedAsyncBackend(httpcore.AnyIOBackend):
    """The asynchronous _PinnedBackend."""

    def __init__(self, address: str):
        super().__init__()
        self.address = address

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return await super().connect_tcp(self.address, port, timeout=timeout, local_address=local_address,
                                         socket_options=socket_options)


def pinned_async_client(address: str | None, *, timeout: float) -> httpx.AsyncClient:
    """The asynchronous pinned_client (see there), for sending many webhooks from one event loop."""
    transport = httpx.AsyncHTTPTransport(verify=_ssl_context(), retries=0)
    if address is not None:
        transport._pool = httpcore.AsyncConnectionPool(ssl_context=_ssl_context(),
                                                       network_backend=_PinnedAsyncBackend(address))
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)


def fetch_text(url: str, *, max_bytes: int = 64_000) -> str:
    """GET a small text resource from a public host; Refused or httpx.HTTPError on failure."""
    address = check_public_url(url)
    with pinned_client(address, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as client, \
            client.stream("GET", url, headers={"user-agent": "takedown/1.0"}) as response:
        if response.status_code != 200:
            raise Refused(f"{url} answered {response.status_code}")
        body = b""
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise Refused(f"{url} is larger than {max_bytes} bytes")
    return body.decode("utf-8", "replace")
