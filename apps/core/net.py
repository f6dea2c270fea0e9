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


# Special-purpose ranges named in refusals; whether an address is refused is ipaddress' judgement, not this list.
_RANGE_NAMES = [(ipaddress.ip_network(net), name) for net, name in (
    ("100.64.0.0/10", "the shared address space 100.64.0.0/10, where cloud metadata services live"),
    ("192.0.2.0/24", "a documentation range"), ("198.51.100.0/24", "a documentation range"),
    ("203.0.113.0/24", "a documentation range"), ("2001:db8::/32", "a documentation range"),
    ("198.18.0.0/15", "a benchmarking range"),
    ("2001::/32", "a Teredo address"),
)]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _kind(address: Address) -> str:
    for network, name in _RANGE_NAMES:
        if address.version == network.version and address in network:
            return name
    for attribute, name in (("is_unspecified", "the unspecified address"), ("is_loopback", "a loopback address"),
                            ("is_link_local", "a link-local address"), ("is_multicast", "a multicast address"),
                            ("is_private", "a private address"), ("is_reserved", "a reserved address")):
        if getattr(address, attribute):
            return name
    return "not globally routable"


def _low_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


def address_refusal(address: Address) -> str | None:
    """Why an outgoing connection to `address` is refused, or None when it is a public address.

    Public means global in the sense of the ipaddress module (so shared address
    space, documentation and benchmarking ranges are refused with the private
    ones) and not multicast or reserved. An IPv6 address that carries an IPv4
    address (IPv4-mapped, NAT64 64:ff9b::/96, 6to4, Teredo, IPv4-compatible) is
    judged by that IPv4 address too: packets to it may end up there.
    """
    if address.version == 6:
        # Only a way of writing an IPv4 address (the host or its NAT64 gateway translates it): that address decides.
        translated = address.ipv4_mapped or (_low_ipv4(address) if address in _NAT64 else None)
        if translated is not None:
            why = address_refusal(translated)
            return f"it stands for the IPv4 address {translated}, {why}" if why else None
        carried = []
        if address in _SIXTOFOUR:
            carried.append(("6to4", address.sixtofour))
        if address.teredo:
            carried += [("Teredo server", address.teredo[0]), ("Teredo client", address.teredo[1])]
        if address in _IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 are not IPv4-compatible addresses
            carried.append(("IPv4-compatible", _low_ipv4(address)))
        for form, embedded in carried:
            why = address_refusal(embedded)
            if why:
                return f"it carries the {form} IPv4 address {embedded}, {why}"
    if not address.is_global or address.is_multicast or address.is_reserved:
        return _kind(address)
    return None


def check_public_url(url: str) -> str | None:
    """Refuse URLs that are not http(s) or whose host resolves to an address that is not public (address_refusal).

    Every address the name resolves to must be public. Returns the checked
    address to connect to (see pinned_client), or None when
    WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=true lets every address through (tests on loopback).
    """
    parts = urlsplit(url)
    try:
        host = parts.hostname
    except ValueError:  # e.g. an unclosed [ of an IPv6 literal
        host = None
    if parts.scheme not in ("http", "https") or not host:
        raise Refused(f"not an http(s) URL: {url[:200]}")
    if settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES:
        return None
    try:
        infos = socket.getaddrinfo(host, parts.port or 443, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise LookupFailed(f"cannot resolve {host}: {getattr(exc, 'strerror', None) or exc}") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        why = address_refusal(address)
        if why:
            raise Refused(
                f"{host} resolves to the non-public address {address}: {why} "
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
