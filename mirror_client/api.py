"""HTTP access to the host's mirror API (stdlib urllib only)."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from . import __version__
from .errors import HttpError, MirrorClientError, ServerUnreachable, UnsignedError, VerificationError
from .verify import decode_public_key, key_id_for

# The host sends a manifest's signature along with it; manifest.json.sig remains the reference.
SIGNATURE_HEADER = "Takedown-Signature"
USER_AGENT = f"takedown-mirror-client/{__version__}"
TRANSIENT_STATUSES = {502, 503, 504}
# Connection-level failures worth another try; DNS, TLS and timeouts are not retried.
TRANSIENT_ERRORS = (ConnectionRefusedError, ConnectionResetError, ConnectionAbortedError,
                    BrokenPipeError, http.client.RemoteDisconnected)
SIGNING_KEYS_PATH = "/.well-known/takedown/signing-keys.json"
FEED_PATH = "/api/v1/mirror/feed"


@dataclass
class SigningKeys:
    """The well-known document: every listed key (``key_id -> raw``), the active ones, the rotation statements."""

    keys: dict[str, bytes]
    active: set[str]
    rotations: list[dict]


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
                auth: bool = True, headers_out: dict | None = None, headers_in: dict | None = None) -> bytes:
        """Send one request, retrying transient failures; return the response body (and, into
        ``headers_out`` when given, the response headers). ``headers_in``: more request headers."""
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
            for name, value in (headers_in or {}).items():
                req.add_header(name, value)
            if auth:
                # Unredirected: a redirect elsewhere must not carry the token along.
                req.add_unredirected_header("Authorization", f"Bearer {self.token}")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    if headers_out is not None:
                        headers_out.update((k.lower(), v) for k, v in resp.headers.items())
                    return resp.read()
            except urllib.error.HTTPError as exc:
                if exc.code == 304 and headers_out is not None:  # not modified: the caller asked conditionally
                    headers_out.update((k.lower(), v) for k, v in exc.headers.items())
                    headers_out[":status"] = "304"
                    return b""
                if exc.code in TRANSIENT_STATUSES and attempt < self.retries:
                    self._pause(attempt)
                    continue
                detail, payload = _error_body(exc)
                raise HttpError(exc.code, method, urllib.parse.urlsplit(url).path, detail, payload) from None
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

    def signing_keys(self) -> SigningKeys:
        """The host's published Ed25519 keys and rotation statements (no authentication).

        Each key's id is checked against its bytes; the statements are checked
        later, against the keys the client already trusts.
        """
        payload = self.get_json(SIGNING_KEYS_PATH, auth=False)
        entries = payload.get("keys") if isinstance(payload, dict) else None
        if not isinstance(entries, list):
            raise VerificationError(f"{SIGNING_KEYS_PATH} has no key list")
        keys: dict[str, bytes] = {}
        active: set[str] = set()
        for entry in entries:
            if not isinstance(entry, dict) or entry.get("algorithm") != "ed25519":
                continue
            raw = decode_public_key(str(entry.get("public_key", "")))
            if entry.get("key_id") != key_id_for(raw):
                raise VerificationError(
                    f"{SIGNING_KEYS_PATH}: key id {entry.get('key_id')} does not match its key ({key_id_for(raw)})"
                )
            keys[entry["key_id"]] = raw
            # A host of protocol v1 lists only its one key, without a status.
            if entry.get("status", "active") == "active":
                active.add(entry["key_id"])
        rotations = payload.get("rotations") or []
        if not isinstance(rotations, list):
            raise VerificationError(f"{SIGNING_KEYS_PATH}: rotations is not a list")
        return SigningKeys(keys, active, [r for r in rotations if isinstance(r, dict)])

    def feed_page(self, after: int, limit: int, etag: str | None = None) -> dict:
        """One page of the feed after cursor ``after``, with the page's ``etag`` when the host sent one.

        With ``etag`` (of the same query, from an earlier read) the host may answer
        304: then the page is ``{"not_modified": True}``. A cursor older than the
        feed's retention window answers 410 with a resync: then the page is
        ``{"resync": True, "cursor": int, "latest": [events]}``.
        """
        headers: dict = {}
        try:
            raw = self.request("GET", FEED_PATH, params={"after": after, "limit": limit}, headers_out=headers,
                               headers_in={"If-None-Match": etag} if etag else None)
            if headers.get(":status") == "304":
                return {"not_modified": True}
            page = _json(raw, "GET", FEED_PATH)
        except HttpError as exc:
            body = exc.payload
            if exc.status != 410 or not isinstance(body, dict) or body.get("resync") is not True:
                raise
            if type(body.get("cursor")) is not int or not isinstance(body.get("latest"), list):
                raise MirrorClientError("feed resync answer is malformed (expected cursor and latest)") from None
            return {"resync": True, "cursor": body["cursor"], "latest": body["latest"], "detail": exc.detail}
        if (not isinstance(page, dict) or not isinstance(page.get("events"), list)
                or type(page.get("next")) is not int or not isinstance(page.get("more"), bool)):
            raise MirrorClientError("feed page is malformed (expected events, next and more)")
        page["etag"] = headers.get("etag")
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
        return self.manifest_and_signature(dataset, release, version)[0]

    def manifest_and_signature(self, dataset: str, release: str, version: int) -> tuple[bytes, str]:
        """The manifest's bytes and the signature the host sent along (``Takedown-Signature``), or ""."""
        headers: dict = {}
        raw = self.request("GET", self._version_path(dataset, release, version) + "/manifest.json",
                           headers_out=headers)
        return raw, headers.get(SIGNATURE_HEADER.lower(), "").strip()

    def signature(self, dataset: str, release: str, version: int) -> str:
        """The base64 signature of a version's manifest; :class:`UnsignedError` when there is none."""
        try:
            raw = self.request("GET", self._version_path(dataset, release, version) + "/manifest.json.sig")
        except HttpError as exc:
            if exc.status != 404:
                raise
            raise UnsignedError(f"{dataset}/{release} v{version} is unsigned: its manifest.json.sig is missing "
                                f"(HTTP 404); refusing", version=version) from None
        signature = raw.decode("ascii", "replace").strip()
        if not signature:
            raise UnsignedError(f"{dataset}/{release} v{version} is unsigned: its manifest.json.sig is empty; "
                                f"refusing", version=version)
        return signature

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


def _error_body(exc: urllib.error.HTTPError) -> tuple[str, Any]:
    """(one-line detail, decoded JSON body or None) of an error answer."""
    try:
        raw = exc.read()
    except Exception:  # the body is a courtesy: never let it hide the status
        return "", None
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return " ".join(raw.decode("utf-8", "replace").split())[:200], None
    if isinstance(payload, dict) and payload.get("detail"):
        return " ".join(str(payload["detail"]).split()), payload
    return " ".join(raw.decode("utf-8", "replace").split())[:200], payload


def _describe(reason: Any) -> str:
    if isinstance(reason, BaseException):
        text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    else:
        text = str(reason)
    return " ".join(str(text).split())
