"""Outgoing webhooks connect to the address that was checked, never to a second lookup of the name."""
import pytest

from apps.core import net


def test_the_checked_address_is_returned_for_pinning(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    assert net.check_public_url("https://93.184.215.14/hook") == "93.184.215.14"
    with pytest.raises(net.Refused, match="non-public address 10.0.0.8"):
        net.check_public_url("http://10.0.0.8/hook")
    with pytest.raises(net.Refused, match="not an http"):
        net.check_public_url("ftp://example.org/hook")


def test_a_pinned_client_connects_to_its_address_whatever_the_name_resolves_to(receiver):
    port = receiver.url.split(":")[2].split("/")[0]
    # rebind.invalid resolves to nothing at all: reaching the receiver proves no second lookup happened.
    with net.pinned_client("127.0.0.1", timeout=5) as client:
        response = client.post(f"http://rebind.invalid:{port}/hooks/takedown", content=b"{}")
    assert response.status_code == 204
    [got] = receiver.received
    assert got.headers["host"] == f"rebind.invalid:{port}"


def test_a_pinned_client_does_not_follow_redirects(receiver):
    receiver.statuses = [307]
    with net.pinned_client("127.0.0.1", timeout=5) as client:
        assert client.post(receiver.url, content=b"{}").status_code == 307
    assert len(receiver.received) == 1


def test_the_asynchronous_pinned_client_connects_to_its_address_too(receiver):
    import asyncio
    import threading

    port = receiver.url.split(":")[2].split("/")[0]

    async def post():
        async with net.pinned_async_client("127.0.0.1", timeout=5) as client:
            return await client.post(f"http://rebind.invalid:{port}/hooks/takedown", content=b"{}")

    # In a thread of its own, as the sender runs it (a browser test may leave a loop running in this one).
    answers = []
    sender = threading.Thread(target=lambda: answers.append(asyncio.run(post())))
    sender.start()
    sender.join(10)
    assert answers[0].status_code == 204
    [got] = receiver.received
    assert got.headers["host"] == f"rebind.invalid:{port}"


def test_only_host_names_wait_on_a_lookup(settings):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    assert net.needs_lookup("https://mirror.example.org/hook")
    assert not net.needs_lookup("https://93.184.215.14/hook")
    assert not net.needs_lookup("http://[2001:db8::1]:8080/hook")
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = True
    assert not net.needs_lookup("https://mirror.example.org/hook")
