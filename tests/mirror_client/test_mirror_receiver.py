"""The webhook receiver: requests signed by the real standardwebhooks package, a real HTTP server, real syncs."""

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from mirror_client.receiver import Receiver

SECRET = "whsec_" + base64.b64encode(b"a mirror's webhook secret, 32 b!").decode()
TOKEN = "td_mirror_testtoken"
V1 = {"00000": ["000001", "000003"], "00002": ["000027"]}


def post(url, payload, **kwargs):
    return post_raw(url, json.dumps(payload).encode(), **kwargs)


def post_raw(url, body, *, msg_id="msg_1", secret=SECRET, when=None, signature=None):
    """POST these bytes, validly signed unless told otherwise; (status, decoded JSON answer)."""
    when = when or datetime.now(UTC)
    headers = {"content-type": "application/json", "webhook-id": msg_id,
               "webhook-timestamp": str(int(when.timestamp())),
               "webhook-signature": signature or _sign(secret, msg_id, when, body)}
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _sign(secret, msg_id, when, body):
    try:
        return Webhook(secret).sign(msg_id, when, body.decode())
    except UnicodeDecodeError:  # the package signs text only: the same HMAC, by hand, for bytes that are not UTF-8
        key = base64.b64decode(secret.removeprefix("whsec_"))
        digest = hmac.new(key, f"{msg_id}.{int(when.timestamp())}.".encode() + body, hashlib.sha256).digest()
        return "v1," + base64.b64encode(digest).decode()


def published(version=1, dataset="demo"):
    return {"type": "blocklist.published", "timestamp": "2026-11-28T01:00:00+00:00",
            "data": {"id": version, "dataset": dataset, "release": "2026-11", "version": version,
                     "manifest_sha256": f"{version:064x}"}}


@pytest.fixture
def receiver(monkeypatch):
    """A Receiver on a free loopback port whose sync waits for ``gate`` and counts itself."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    calls, gate, lines = [], threading.Event(), []
    gate.set()

    def run_sync(announced=None):
        calls.append(time.monotonic())
        gate.wait(10)

    r = Receiver(("127.0.0.1", 0), SECRET, run_sync, dataset="demo", log=lines.append)
    r.calls, r.gate, r.lines = calls, gate, lines
    r.start(initial_sync=False)
    yield r
    gate.set()
    r.stop()


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def test_it_accepts_a_signed_event_and_syncs(receiver):
    status, body = post(receiver.url, published())

    assert (status, body) == (202, {"status": "accepted"})
    assert wait_for(lambda: len(receiver.calls) == 1)


def test_it_refuses_a_bad_signature(receiver):
    other = "whsec_" + base64.b64encode(b"another secret, also 32 bytes!!!").decode()

    status, body = post(receiver.url, published(), secret=other)

    assert status == 401
    assert body == {"detail": "no valid v1 signature for webhook msg_1"}
    time.sleep(0.1)
    assert receiver.calls == []


def test_it_refuses_a_stale_or_future_timestamp(receiver):
    for when in (datetime.now(UTC) - timedelta(minutes=6), datetime.now(UTC) + timedelta(minutes=6)):
        status, body = post(receiver.url, published(), when=when)
        assert status == 401
        assert "is more than 5 minutes off" in body["detail"]


def test_it_refuses_missing_headers(receiver):
    request = urllib.request.Request(receiver.url, data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 401


def test_it_ignores_a_duplicate_id(receiver):
    assert post(receiver.url, published(), msg_id="td_evt_7")[0] == 202
    assert wait_for(lambda: len(receiver.calls) == 1)

    status, body = post(receiver.url, published(), msg_id="td_evt_7")

    assert (status, body) == (200, {"status": "duplicate"})
    time.sleep(0.1)
    assert len(receiver.calls) == 1


def test_it_ignores_events_of_other_datasets_and_types(receiver):
    assert post(receiver.url, published(dataset="other"), msg_id="a") == (200, {"status": "ignored"})
    assert post(receiver.url, {"type": "mirror.test", "data": {}}, msg_id="b") == (200, {"status": "ignored"})
    time.sleep(0.1)
    assert receiver.calls == []


def test_it_folds_events_arriving_during_a_sync_into_one_more(receiver):
    receiver.gate.clear()
    assert post(receiver.url, published(1), msg_id="e1")[0] == 202
    assert wait_for(lambda: len(receiver.calls) == 1)

    started = time.monotonic()
    for n in range(2, 6):  # answered at once although a sync is running
        assert post(receiver.url, published(n), msg_id=f"e{n}")[0] == 202
    assert time.monotonic() - started < 2
    receiver.gate.set()

    assert wait_for(lambda: len(receiver.calls) == 2)
    time.sleep(0.2)
    assert len(receiver.calls) == 2


def test_it_keeps_running_after_a_failing_sync(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    lines, calls = [], []

    def run_sync(announced=None):
        calls.append(1)
        raise RuntimeError("disk on fire")

    r = Receiver(("127.0.0.1", 0), SECRET, run_sync, log=lines.append)
    r.start(initial_sync=False)
    try:
        assert post(r.url, published(), msg_id="x1")[0] == 202
        assert wait_for(lambda: "error: unexpected RuntimeError: disk on fire" in lines)
        assert post(r.url, published(), msg_id="x2")[0] == 202
        assert wait_for(lambda: len(calls) == 2)
    finally:
        r.stop()


def test_it_syncs_on_its_own_when_no_webhook_came_for_the_poll_interval(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    calls, lines = [], []

    def run_sync(announced=None):
        calls.append((time.monotonic(), announced))

    r = Receiver(("127.0.0.1", 0), SECRET, run_sync, dataset="demo", log=lines.append, poll_seconds=0.3)
    r.start(initial_sync=False)
    try:
        assert wait_for(lambda: len(calls) >= 3, timeout=5)
        assert all(announced is None for _, announced in calls)  # a full sync: the feed is read
        gaps = [b - a for (a, _), (b, _) in zip(calls, calls[1:], strict=False)]
        assert all(gap >= 0.25 for gap in gaps)
        assert "no webhook for 0.3 s: checking the feed" in lines
    finally:
        r.stop()


def test_without_a_poll_interval_it_syncs_only_on_webhooks(receiver):
    time.sleep(0.5)
    assert receiver.calls == []


def test_the_poll_interval_must_be_a_number_of_seconds(capsys):
    from mirror_client.cli import main

    for bad in ("-1", "soon", "inf"):
        with pytest.raises(SystemExit) as exit_:
            main(["receive", "--listen", "127.0.0.1:0", "--secret", SECRET, "--server", "http://127.0.0.1:1",
                  "--token", TOKEN, "--dataset", "demo", "--data", ".", "--poll", bad])
        assert exit_.value.code == 2
        assert f"argument --poll: {bad!r} is not a number of seconds" in capsys.readouterr().err


def status_of(receiver):
    with urllib.request.urlopen(receiver.url + "/", timeout=10) as resp:
        return json.loads(resp.read())


def test_a_get_answers_whether_it_is_busy_and_how_the_last_sync_went(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    gate, outcomes = threading.Event(), [None, RuntimeError("disk on fire")]

    def run_sync(announced=None):
        gate.wait(10)
        if outcomes.pop(0):
            raise RuntimeError("disk on fire")

    r = Receiver(("127.0.0.1", 0), SECRET, run_sync, dataset="demo")
    r.start(initial_sync=False)
    try:
        assert status_of(r) == {"status": "ok", "syncs": 0, "busy": False, "last_sync": None}
        assert post(r.url, published(), msg_id="s1")[0] == 202
        assert status_of(r)["busy"] is True
        gate.set()
        assert wait_for(lambda: not status_of(r)["busy"])
        first = status_of(r)
        assert first["syncs"] == 1 and first["last_sync"]["ok"] is True and "error" not in first["last_sync"]

        assert post(r.url, published(), msg_id="s2")[0] == 202
        assert wait_for(lambda: status_of(r)["syncs"] == 2 and not status_of(r)["busy"])
        assert status_of(r)["last_sync"]["ok"] is False
        assert status_of(r)["last_sync"]["error"] == "unexpected RuntimeError: disk on fire"
    finally:
        gate.set()
        r.stop()


def test_the_command_syncs_on_a_webhook_and_stops_on_sigterm(host, data_dir):
    host.add_release("demo", "2026-11", data_dir)
    env = dict(os.environ, no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost",
               TAKEDOWN_WEBHOOK_SECRET=SECRET, TAKEDOWN_MIRROR_TOKEN=TOKEN)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mirror_client", "receive", "--listen", "127.0.0.1:0", "--server", host.url,
         "--dataset", "demo", "--data", str(data_dir)],
        cwd=Path(__file__).resolve().parents[2],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        assert first.startswith("listening on http://127.0.0.1:"), first + proc.stderr.read()
        url = first.split()[2]
        # The catch-up sync at start finds nothing yet.
        assert wait_for(lambda: any(r["path"] == "/api/v1/mirror/feed" for r in list(host.requests)))
        for n, (body, reason) in enumerate(MALFORMED):  # each answered, none takes the receiver down
            status, answer = post_raw(url, body, msg_id=f"bad{n}")
            assert (status, answer["detail"][:len(reason)]) == (400, reason)

        host.publish("demo", "2026-11", V1)
        assert post(url, published(1), msg_id="td_evt_1")[0] == 202
        assert wait_for(lambda: host.acks_of() == [(1, "applied")])
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "applied demo/2026-11 v1 (full)" in out
    assert "refused webhook bad2: body is JSON nested too deeply" in out
    assert out.rstrip().endswith("stopped")
    assert "Traceback" not in err


DEEP = b'{"type": "blocklist.published", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


def with_data(**changes):
    payload = published()
    payload["data"].update(changes)
    return {"type": payload["type"], "data": {k: v for k, v in payload["data"].items() if v is not None}}


MALFORMED = [
    (b"not json", "body is not JSON"),
    (b"\xff\xfe", "body is not JSON"),
    (DEEP, "body is JSON nested too deeply"),
    (b'["blocklist.published"]', "body is not a JSON object"),
    (json.dumps({"data": {}}).encode(), "type is missing or not a string"),
    (json.dumps({"type": 7, "data": {}}).encode(), "type is missing or not a string"),
    (json.dumps({"type": "blocklist.published", "data": "v1 is out"}).encode(), "data is missing or not an object"),
    (json.dumps({"type": "blocklist.published"}).encode(), "data is missing or not an object"),
    (json.dumps({"type": "mirror.test", "data": [1]}).encode(), "data is missing or not an object"),
    (json.dumps(with_data(dataset=None)).encode(), "data.dataset is missing, not a name"),
    (json.dumps(with_data(release=["2026-11"])).encode(), "data.release is ['2026-11'], not a name"),
    (json.dumps(with_data(version=-1)).encode(), "data.version is -1, not a positive whole number"),
    (json.dumps(with_data(version="2")).encode(), "data.version is '2', not a positive whole number"),
    (json.dumps(with_data(version=True)).encode(), "data.version is True, not a positive whole number"),
    (json.dumps(with_data(version=1.0)).encode(), "data.version is 1.0, not a positive whole number"),
    (json.dumps(with_data(manifest_sha256=None)).encode(), "data.manifest_sha256 is missing, not 64 lower-case"),
]


@pytest.mark.parametrize(("body", "reason"), MALFORMED, ids=[r for _, r in MALFORMED])
def test_it_answers_400_to_a_signed_but_malformed_payload_and_serves_the_next(receiver, body, reason):
    status, answer = post_raw(receiver.url, body, msg_id="bad")

    assert status == 400
    assert answer["detail"].startswith(reason)
    assert any(line.startswith("refused webhook bad: ") for line in receiver.lines)
    time.sleep(0.1)
    assert receiver.calls == []
    # Still up, and the refused id was not recorded: the host's corrected retry is taken.
    assert post(receiver.url, published(), msg_id="bad") == (202, {"status": "accepted"})
    assert wait_for(lambda: len(receiver.calls) == 1)


def test_a_bad_content_length_is_answered_too(receiver):
    import http.client

    port = int(receiver.url.rsplit(":", 1)[1])
    for length in ("-5", "many"):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.putrequest("POST", "/")
        connection.putheader("Content-Length", length)
        connection.endheaders()
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (400, {"detail": "bad Content-Length"})
        connection.close()
    assert post(receiver.url, published()) == (202, {"status": "accepted"})

