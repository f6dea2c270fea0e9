"""The ``receive`` command: a webhook receiver that syncs when the host announces a blocklist.

Requests are signed the Standard Webhooks way (https://www.standardwebhooks.com/):
``webhook-id``, ``webhook-timestamp`` (seconds) and ``webhook-signature``
(space-separated ``v1,<base64 HMAC-SHA256>`` of ``id.timestamp.body`` keyed by
the base64 bytes after ``whsec_`` of the secret). A verified request is answered
at once; syncs run one at a time in a single worker thread, and events arriving
during a sync fold into one more sync after it. With ``poll_seconds``, a sync
also runs when that long has passed since the last one: a webhook the host
could not deliver is caught up on all the same (the feed read then costs the
host a 304 when nothing is new).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .errors import MirrorClientError
from .events import PUBLISHED, published_problem

TOLERANCE_SECONDS = 5 * 60
MAX_BODY = 1 << 20
SEEN_IDS = 10_000


class WebhookError(MirrorClientError):
    """A request that is not a validly signed, fresh webhook."""


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret."""
    value = secret.strip()
    if value.startswith("whsec_"):
        value = value[len("whsec_"):]
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookError("webhook secret is not whsec_ followed by base64") from None
    if not key:
        raise WebhookError("webhook secret is empty")
    return key


def sign(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """The ``v1`` signature of one request."""
    digest = hmac.new(key, msg_id.encode() + b"." + timestamp.encode() + b"." + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_webhook(key: bytes, headers, body: bytes, now: float | None = None) -> str:
    """Check the Standard Webhooks headers of a request; returns its ``webhook-id``."""
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not msg_id or not timestamp or not signatures:
        raise WebhookError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        sent = int(timestamp)
    except ValueError:
        raise WebhookError(f"webhook-timestamp {timestamp!r} is not a number of seconds") from None
    if abs((now if now is not None else time.time()) - sent) > TOLERANCE_SECONDS:
        raise WebhookError(f"webhook-timestamp {timestamp} is more than {TOLERANCE_SECONDS // 60} minutes off")
    expected = sign(key, msg_id, timestamp, body)
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return msg_id
    raise WebhookError(f"no valid v1 signature for webhook {msg_id}")


def payload_problem(payload: object) -> str | None:
    """What is wrong with the shape of a webhook payload, or None: an object with a string ``type`` and a ``data``
    object, whose fields are those of a feed event for ``blocklist.published``."""
    if not isinstance(payload, dict):
        return "body is not a JSON object"
    if not isinstance(payload.get("type"), str):
        return "type is missing or not a string"
    if not isinstance(payload.get("data"), dict):
        return "data is missing or not an object"
    if payload["type"] == PUBLISHED:
        problem = published_problem(payload["data"])
        return f"data.{problem}" if problem else None
    return None


class Receiver:
    """The HTTP server, the set of ids already seen and the sync worker."""

    def __init__(self, address: tuple[str, int], secret: str, run_sync: Callable[[dict | None], object], *,
                 dataset: str | None = None, log: Callable[[str], None] = lambda line: None,
                 poll_seconds: float = 0) -> None:
        self.key = decode_secret(secret)
        self.run_sync = run_sync
        self.dataset = dataset
        self.log = log
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_lock = threading.Lock()
        self._wake = threading.Condition()
        self._pending = False
        self._announced: dict | None = None
        self._stopping = False
        self._running = False
        self.syncs = 0
        self.last_sync: dict | None = None  # when the last sync finished, and its error if it failed
        # A full sync this long after the last one ended (0: never), should a webhook have been lost.
        self.poll_seconds = poll_seconds
        self._last_end = time.monotonic()
        self.server = ThreadingHTTPServer(address, self._handler())
        self.server.daemon_threads = True
        self._serving = threading.Thread(target=self.server.serve_forever, args=(0.2,), name="webhook-server")
        self._worker = threading.Thread(target=self._work, name="sync-worker")

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, *, initial_sync: bool = True) -> None:
        """Serve and start the worker; ``initial_sync`` catches up on what was published while stopped."""
        self._worker.start()
        self._serving.start()
        if initial_sync:
            self.request_sync()

    def stop(self) -> None:
        """Stop taking requests, let a running sync finish, stop the worker."""
        self.server.shutdown()
        self.server.server_close()
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        self._worker.join()
        self._serving.join()

    def request_sync(self, announced: dict | None = None) -> None:
        """Ask for a sync; several requests during a running sync make one more sync.

        ``announced`` (the event a webhook carried) lets that sync skip the feed when it is the only
        one waiting; several events waiting make a full sync.
        """
        with self._wake:
            self._announced = announced if not self._pending else None
            self._pending = True
            self._wake.notify_all()

    def _work(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._stopping:
                    if not self.poll_seconds:
                        self._wake.wait()
                        continue
                    left = self._last_end + self.poll_seconds - time.monotonic()
                    if left <= 0:
                        self._pending, self._announced = True, None
                        self.log(f"no webhook for {self.poll_seconds:g} s: checking the feed")
                        break
                    self._wake.wait(left)
                if self._stopping:
                    return
                self._pending = False
                self._running = True
                announced, self._announced = self._announced, None
            self.syncs += 1
            error = None
            try:
                self.run_sync(announced)
            except MirrorClientError as exc:
                error = " ".join(str(exc).split())
            except Exception as exc:  # the receiver must outlive any one sync
                error = f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}"
            if error:
                self.log("error: " + error)
            with self._wake:
                self._running = False
                self._last_end = time.monotonic()
                self.last_sync = {"finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                  "ok": error is None, **({"error": error} if error else {})}

    def status(self) -> dict:
        """What ``GET /`` answers, for monitoring: syncs run, whether one is running or queued, the last outcome."""
        with self._wake:
            return {"status": "ok", "syncs": self.syncs, "busy": self._running or self._pending,
                    "last_sync": self.last_sync}

    def first_time(self, msg_id: str) -> bool:
        """Record ``msg_id``; False when it was seen already (a retried delivery)."""
        with self._seen_lock:
            if msg_id in self._seen:
                return False
            self._seen[msg_id] = None
            while len(self._seen) > SEEN_IDS:
                self._seen.popitem(last=False)
            return True

    def handle(self, headers, body: bytes) -> tuple[int, dict]:
        """Answer one POST: (status, JSON body). A signed payload of the wrong shape is answered 400, with why."""
        try:
            msg_id = verify_webhook(self.key, headers, body)
        except WebhookError as exc:
            self.log(f"refused a webhook: {exc}")
            return 401, {"detail": str(exc)}
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return self._malformed(msg_id, "body is not JSON")
        except RecursionError:
            return self._malformed(msg_id, "body is JSON nested too deeply")
        problem = payload_problem(payload)
        if problem:
            return self._malformed(msg_id, problem)
        if not self.first_time(msg_id):
            self.log(f"webhook {msg_id}: already received, ignored")
            return 200, {"status": "duplicate"}
        event_type, data = payload["type"], payload["data"]
        dataset = data.get("dataset")
        if event_type != PUBLISHED or (self.dataset and dataset != self.dataset):
            self.log(f"webhook {msg_id}: {event_type} for {dataset or 'no dataset'}, nothing to do")
            return 200, {"status": "ignored"}
        self.log(f"webhook {msg_id}: {event_type} {dataset}/{data.get('release')} v{data.get('version')}, "
                 f"sync queued")
        self.request_sync({**data, "type": event_type})
        return 202, {"status": "accepted"}

    def _malformed(self, msg_id: str, problem: str) -> tuple[int, dict]:
        self.log(f"refused webhook {msg_id}: {problem}")
        return 400, {"detail": problem}

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "takedown-mirror-receiver"

            def log_message(self, *args):  # requests are logged by handle(), without the noise
                pass

            def _answer(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if length < 0:
                    self.close_connection = True  # where this body ends cannot be told
                    return self._answer(400, {"detail": "bad Content-Length"})
                if length > MAX_BODY:
                    self.close_connection = True
                    return self._answer(413, {"detail": f"body larger than {MAX_BODY} bytes"})
                body = self.rfile.read(length)
                try:
                    answer = receiver.handle(self.headers, body)
                except Exception as exc:  # a bug must cost one request, answered, not the connection
                    receiver.log(f"error: webhook not handled: unexpected {type(exc).__name__}: {exc}")
                    answer = 500, {"detail": "the receiver failed on this request; see its log"}
                self._answer(*answer)

            def do_GET(self):
                self._answer(200, receiver.status())

        return Handler
