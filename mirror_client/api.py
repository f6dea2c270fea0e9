"""HTTP access to the host's mirror API (stdlib urllib only)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from .errors import HttpError, MirrorClientError, ServerUnreachable, VerificationError
from .verify import decode_public_key, key_id_for

USER_AGENT = "takedown-mirror-client/1.0"
TRANSIENT_STATUSES = {502, 503, 504}
# Connection-level failures worth another try; DNS, TLS and timeouts are not retried.
TRANSIENT_ERRORS = (ConnectionRefusedError, ConnectionResetError, ConnectionAbortedError,
                    BrokenPipeError, http.client.RemoteDisconnected)
SIGNING_KEYS_PATH = "/.well-known/takedown/signing-keys.json"


def _segment(value: Any) -> str:
    return urllib.parse.quote(str(value), safe="")


class ApiClient:
    """Talks to one host: bearer token, User-Agent, timeouts and retries.

    Every URL is built from ``server`` and the documented paths, so the token is
    only ever sent to that server (the absolute URLs in feed events are not used).
    """

    def __init__(self, server: str, token: str, *, timeout: float = 30.0, retries: int = 3,
                 backoff: float = 0.25) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    # -- transport -------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict | None = None, body: Any = None,
                auth: bool = True) -> bytes:
        """Send one request, retrying transient failures; return the response body."""
        url = self.server + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(url, data=data, method=method)
            req.add_header("User-Agent", USER_AGENT)
            req.add_header("Accept", "application/json")
            if data is not None:
                req.add_header("Content-Type", "application/json")
            if auth:
                # Unredirected: a redirect elsewhere must not carry the token along.
                req.add_unredirected_header("Authorization", f"Bearer {self.token}")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return resp.read()
            except urllib.error.HTTPError as exc:
                if exc.code in TRANSIENT_STATUSES and attempt < self.retries:
                    self._pause(attempt)
                    continue
                raise HttpError(exc.code, method, urllib.parse.urlsplit(url).path, _detail(exc)) from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                if isinstance(reason, TRANSIENT_ERRORS) and attempt < self.retries:
                    self._pause(attempt)
                    continue
                raise ServerUnreachable(f"cannot reach {self.server} ({method} {path}): {_describe(reason)}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _pause(self, attempt: int) -> None:
        time.sleep(self.backoff * (2 ** attempt))

    def get_json(self, path: str, *, params: dict | None = None, auth: bool = True) -> Any:
        """GET ``path`` and decode its JSON body."""
        return _json(self.request("GET", path, params=params, auth=auth), "GET", path)

    def post_json(self, path: str, body: Any) -> Any:
        """POST a JSON body to ``path`` and decode the JSON answer."""
        return _json(self.request("POST", path, body=body), "POST", path)

    # -- protocol --------------------------------------------------------

    def signing_keys(self) -> dict[str, bytes]:
        """The host's published Ed25519 keys, ``key_id -> raw bytes`` (no authentication)."""
        payload = self.get_json(SIGNING_KEYS_PATH, auth=False)
        keys: dict[str, bytes] = {}
        entries = payload.get("keys") if isinstance(payload, dict) else None
        if not isinstance(entries, list):
            raise VerificationError(f"{SIGNING_KEYS_PATH} has no key list")
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("algorithm") != "ed25519":
                continue
            raw = decode_public_key(str(entry.get("public_key", "")))
            if entry.get("key_id") != key_id_for(raw):
                raise VerificationError(
                    f"{SIGNING_KEYS_PATH}: key id {entry.get('key_id')} does not match its key ({key_id_for(raw)})"
                )
            keys[entry["key_id"]] = raw
        return keys

    def feed_page(self, after: int, limit: int) -> dict:
        """One page of the feed after cursor ``after``."""
        page = self.get_json("/api/v1/mirror/feed", params={"after": after, "limit": limit})
        if (not isinstance(page, dict) or not isinstance(page.get("events"), list)
                or type(page.get("next")) is not int or not isinstance(page.get("more"), bool)):
            raise MirrorClientError("feed page is malformed (expected events, next and more)")
        return page

    def releases(self, dataset: str) -> list[dict]:
        """The releases of ``dataset`` with their shard digests."""
        payload = self.get_json(f"/api/v1/mirror/datasets/{_segment(dataset)}/releases")
        releases = payload.get("releases") if isinstance(payload, dict) else None
        if not isinstance(releases, list) or not all(isinstance(r, dict) and isinstance(r.get("release"), str)
                                                     for r in releases):
            raise MirrorClientError(f"release list of {dataset} is malformed")
        return releases

    def _version_path(self, dataset: str, release: str, version: int) -> str:
        return f"/api/v1/mirror/blocklists/{_segment(dataset)}/{_segment(release)}/{int(version)}"

    def manifest(self, dataset: str, release: str, version: int) -> bytes:
        """The exact bytes of a version's ``manifest.json``."""
        return self.request("GET", self._version_path(dataset, release, version) + "/manifest.json")

    def signature(self, dataset: str, release: str, version: int) -> str:
        """The base64 signature of a version's manifest."""
        raw = self.request("GET", self._version_path(dataset, release, version) + "/manifest.json.sig")
        return raw.decode("ascii", "replace").strip()

    def blocklist_file(self, dataset: str, release: str, version: int, name: str) -> bytes:
        """One shard file of a version."""
        return self.request("GET", self._version_path(dataset, release, version) + f"/files/{_segment(name)}")

    def ack(self, dataset: str, release: str, version: int, status: str, detail: str) -> Any:
        """Record the outcome of a version for this mirror (sending again updates it)."""
        return self.post_json("/api/v1/mirror/acks", {
            "dataset": dataset, "release": release, "version": version, "status": status, "detail": detail,
        })


def _json(raw: bytes, method: str, path: str) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise MirrorClientError(f"{method} {path} did not answer JSON") from None


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read()
    except Exception:  # the body is a courtesy: never let it hide the status
        return ""
    try:
        payload = json.loads(raw)
        if isinstance(payload, dict) and payload.get("detail"):
            return " ".join(str(payload["detail"]).split())
    except (UnicodeDecodeError, json.JSONDecodeError):
        pass
    text = " ".join(raw.decode("utf-8", "replace").split())
    return text[:200]


def _describe(reason: Any) -> str:
    if isinstance(reason, BaseException):
        text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    else:
        text = str(reason)
    return " ".join(str(text).split())
