"""The judgement of outgoing addresses: only public ones, also when an IPv6 address carries an IPv4 one."""
import ipaddress
import socket

import pytest

from apps.core import net

REFUSED = [
    ("100.64.0.1", "shared address space 100.64.0.0/10"),
    ("192.0.2.1", "documentation range"),
    ("198.51.100.7", "documentation range"),
    ("198.18.0.1", "benchmarking range"),
    ("169.254.169.254", "link-local"),
    ("10.0.0.1", "private"),
    ("127.0.0.1", "loopback"),
    ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("240.0.0.1", "private"),
    ("::1", "loopback"),
    ("fd00::1", "private"),
    ("fe80::1", "link-local"),
    ("ff02::1", "multicast"),
    ("2001:db8::1", "documentation range"),
    ("::ffff:10.0.0.1", "the IPv4 address 10.0.0.1, a private address"),
    ("::ffff:169.254.169.254", "the IPv4 address 169.254.169.254, a link-local address"),
    ("64:ff9b::a00:1", "the IPv4 address 10.0.0.1, a private address"),
    ("64:ff9b::6440:1", "the IPv4 address 100.64.0.1, the shared address space"),
    ("2002:0a00:0001::1", "the 6to4 IPv4 address 10.0.0.1, a private address"),
    ("2002:c0a8:0101::", "the 6to4 IPv4 address 192.168.1.1, a private address"),
    ("2002:a9fe:a9fe::1", "the 6to4 IPv4 address 169.254.169.254"),
    # Teredo: the client address is stored inverted (f5ff:fffe is 10.0.0.1), the server's as it is.
    ("2001:0:4136:e378:8000:63bf:f5ff:fffe", "the Teredo client IPv4 address 10.0.0.1, a private address"),
    ("2001:0:a00:1:8000:63bf:a247:2ddd", "the Teredo server IPv4 address 10.0.0.1, a private address"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "the Teredo client IPv4 address 192.0.2.45, a documentation range"),
    ("::a00:1", "the IPv4-compatible IPv4 address 10.0.0.1, a private address"),
]

# Not a 6to4 address of a public IPv4 one: newer Python releases (CPython gh-113171) count all of 2002::/16 as
# non-global.
PUBLIC = ["93.184.216.34", "2606:4700::1", "2a00:1450:4001:82a::200e", "::ffff:93.184.216.34",
          "64:ff9b::5db8:d822"]


@pytest.mark.parametrize(("address", "why"), REFUSED)
def test_it_refuses_every_address_that_is_not_public(address, why):
    assert why in (net.address_refusal(ipaddress.ip_address(address)) or "accepted")


@pytest.mark.parametrize("address", PUBLIC)
def test_it_accepts_public_addresses(address):
    assert net.address_refusal(ipaddress.ip_address(address)) is None


def test_a_refused_url_names_the_host_the_address_and_why(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(net.Refused) as refused:
        net.check_public_url("http://[2002:a00:1::1]:8080/hook")
    assert str(refused.value) == (
        "2002:a00:1::1 resolves to the non-public address 2002:a00:1::1: it carries the 6to4 IPv4 address "
        "10.0.0.1, a private address (set WEBHOOKS_ALLOW_PRIVATE_ADDRESSES=true to allow it)")
    with pytest.raises(net.Refused, match=r"100\.64\.0\.1 resolves to the non-public address 100\.64\.0\.1: "
                                          r"the shared address space"):
        net.check_public_url("https://100.64.0.1/latest/meta-data/")
    assert net.check_public_url("https://[2606:4700::1]/hook") == "2606:4700::1"


def test_a_name_is_refused_when_any_of_its_addresses_is_not_public(settings, monkeypatch):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    answers = {"mirror.example.org": ["93.184.216.34", "::ffff:100.64.0.1"]}

    def getaddrinfo(host, port, *args, **kwargs):  # a resolver answering a public and a shared address
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(net.Refused, match=r"mirror\.example\.org resolves to the non-public address "
                                          r"::ffff:6440:1: it stands for the IPv4 address 100\.64\.0\.1"):
        net.check_public_url("https://mirror.example.org/hook")
    answers["mirror.example.org"] = ["93.184.216.34"]
    assert net.check_public_url("https://mirror.example.org/hook") == "93.184.216.34"


def test_the_setting_still_lets_every_address_through(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    assert net.check_public_url("http://100.64.0.1/hook") is None
