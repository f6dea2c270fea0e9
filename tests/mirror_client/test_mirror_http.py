"""ApiClient and feed paging against a real local HTTP server."""

import socket

import pytest

from mirror_client import __version__
from mirror_client.api import USER_AGENT, ApiClient
from mirror_client.errors import HttpError, ServerUnreachable
from mirror_client.sync import read_feed

TOKEN = "td_mirror_testtoken"


def client_of(host, token=TOKEN):
    return ApiClient(host.url, token, backoff=0.01)


def test_it_sends_the_token_and_the_user_agent(host):
    client_of(host).feed_page(0, 10)

    headers = host.requests[-1]["headers"]
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert headers["User-Agent"] == USER_AGENT == f"takedown-mirror-client/{__version__}"


def test_it_fetches_the_signing_keys_without_the_token(host):
    keys = client_of(host).signing_keys()

    assert keys.keys == {host.signer.key_id: host.signer.raw}
    assert keys.active == {host.signer.key_id}
    assert keys.rotations == []
    assert "Authorization" not in host.requests[-1]["headers"]


def test_it_retries_transient_statuses(host):
    host.fail["/api/v1/mirror/feed"] = [503, 502, 504]

    page = client_of(host).feed_page(0, 10)

    assert page == {"events": [], "more": False, "next": 0, "etag": None}
    assert len(host.requests) == 4


def test_it_gives_up_after_three_retries(host):
    host.fail["/api/v1/mirror/feed"] = [503] * 5

    with pytest.raises(HttpError, match=r"^HTTP 503 from GET /api/v1/mirror/feed: try later$"):
        client_of(host).feed_page(0, 10)

    assert len(host.requests) == 4


def test_it_does_not_retry_other_errors(host):
    with pytest.raises(HttpError) as err:
        client_of(host, token="td_mirror_wrong").feed_page(0, 10)

    assert str(err.value) == "HTTP 401 from GET /api/v1/mirror/feed: Invalid or revoked mirror token."
    assert err.value.status == 401
    assert len(host.requests) == 1


def test_it_reports_an_unreachable_server():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more: connection refused, retried, then reported.
    with pytest.raises(ServerUnreachable, match=rf"cannot reach http://127.0.0.1:{port} .*: Connection refused"):
        ApiClient(f"http://127.0.0.1:{port}", TOKEN, backoff=0.01).feed_page(0, 10)


def test_it_reads_the_feed_page_by_page(host, data_dir):
    host.add_release("demo", "2026-11", data_dir)
    for n in range(5):
        host.publish("demo", "2026-11", {"00000": [f"00000{n}"]})

    read = read_feed(client_of(host), 0)

    assert [e["id"] for e in read.events] == [1, 2, 3, 4, 5]
    assert read.cursor == 5
    assert read.resync is None
    assert [r["query"] for r in host.requests] == ["after=0&limit=500", "after=2&limit=500", "after=4&limit=500"]


def test_it_keeps_the_cursor_when_the_feed_is_empty(host):
    read = read_feed(client_of(host), 7)

    assert (read.events, read.cursor) == ([], 7)
