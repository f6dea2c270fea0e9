"""Fixtures of the mirror client tests: real img2dataset-like shards, real keys, a real local host.

Everything is reached through fixtures (no helper module to import), so these
tests run whatever pytest import mode or ``tests/__init__.py`` the project has.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
TOKEN = "td_mirror_testtoken"
SAMPLES_PER_SHARD = 10  # keys: 5-digit shard id + 1-digit index, as img2dataset names them


# -- shards ----------------------------------------------------------------------------


def image_bytes(index: int, fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), ((index * 37) % 256, (index * 91) % 256, 120)).save(buf, format=fmt)
    return buf.getvalue()


def shard_keys(shard_id: int, rows: int = SAMPLES_PER_SHARD) -> list[str]:
    return [f"{shard_id:05d}{i:01d}" for i in range(rows)]


def write_shard(folder: Path, shard_id: int, *, failed: tuple[int, ...] = (), key_type: str = "string",
                fmt: str = "JPEG") -> list[str]:
    """Write NNNNN.parquet, NNNNN.tar and NNNNN_stats.json as img2dataset would; return the keys."""
    name = f"{shard_id:05d}"
    keys = shard_keys(shard_id)
    ok = [i not in failed for i in range(len(keys))]
    images = [image_bytes(shard_id * 100 + i, fmt) for i in range(len(keys))]
    columns = {
        "url": [f"https://img.example.org/{k}.jpg" for k in keys],
        "caption": [f"a caption for {k}" for k in keys],
        "key": [int(k) for k in keys] if key_type == "int" else keys,
        "status": ["success" if good else "failed_to_download" for good in ok],
        "error_message": [None if good else "HTTP 404" for good in ok],
        "width": [8 if good else None for good in ok],
        "height": [8 if good else None for good in ok],
        "original_width": [640 if good else None for good in ok],
        "original_height": [480 if good else None for good in ok],
        "exif": ["{}" if good else None for good in ok],
        "sha256": [hashlib.sha256(img).hexdigest() if good else None for img, good in zip(images, ok, strict=False)],
    }
    schema = pa.schema(
        [
            ("url", pa.string()), ("caption", pa.string()),
            ("key", pa.int64() if key_type == "int" else pa.string()),
            ("status", pa.string()), ("error_message", pa.string()),
            ("width", pa.int32()), ("height", pa.int32()),
            ("original_width", pa.int32()), ("original_height", pa.int32()),
            ("exif", pa.string()), ("sha256", pa.string()),
        ],
        metadata={b"written_by": b"img2dataset 1.47 (test)"},
    )
    pq.write_table(pa.table(columns, schema=schema), folder / f"{name}.parquet", row_group_size=4,
                   compression="zstd")

    ext = {"JPEG": "jpg", "PNG": "png"}[fmt]
    with tarfile.open(folder / f"{name}.tar", "w") as tar:
        for key, good, img in zip(keys, ok, images, strict=False):
            if not good:
                continue
            meta = json.dumps({"key": key, "status": "success", "url": f"https://img.example.org/{key}.jpg"})
            for member, data in ((f"{key}.{ext}", img), (f"{key}.txt", f"a caption for {key}".encode()),
                                 (f"{key}.json", meta.encode())):
                info = tarfile.TarInfo(member)
                info.size = len(data)
                info.mtime = 1_700_000_000 + shard_id
                info.mode = 0o644
                info.uname = info.gname = "img2dataset"
                tar.addfile(info, io.BytesIO(data))
    (folder / f"{name}_stats.json").write_text(json.dumps({"count": len(keys), "successes": sum(ok)}))
    return keys


@pytest.fixture
def make_shard():
    """write_shard(folder, shard_id, failed=(), key_type="string"|"int", fmt="JPEG"|"PNG") -> keys."""
    return write_shard


@pytest.fixture
def data_dir(tmp_path):
    """A local copy of release demo/2026-11: shards 00000 to 00002, row 9 of each failed to download."""
    folder = tmp_path / "demo-2026-11"
    folder.mkdir()
    for shard_id in range(3):
        write_shard(folder, shard_id, failed=(9,))
    return folder


def tar_members(path: Path) -> list[tuple[str, bytes, tuple]]:
    with tarfile.open(path) as tar:
        return [(m.name, tar.extractfile(m).read(), (m.mode, m.mtime, m.uid, m.gid, m.uname, m.gname))
                for m in tar.getmembers()]


@pytest.fixture
def read_tar():
    """read_tar(path) -> [(name, bytes, (mode, mtime, uid, gid, uname, gname))] in archive order."""
    return tar_members


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def snapshot():
    """snapshot(folder) -> {file name: bytes} of every file in it."""
    return folder_bytes


# -- keys, manifests -------------------------------------------------------------------


class Signer:
    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        self.raw = self.private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.b64 = base64.b64encode(self.raw).decode()
        self.key_id = hashlib.sha256(self.raw).hexdigest()[:16]

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.private.sign(data)).decode()


@pytest.fixture
def signer():
    return Signer()


@pytest.fixture
def make_signer():
    """make_signer() -> a new Signer (private key, raw, b64, key_id, sign())."""
    return Signer


def blocklist_file(keys) -> bytes:
    buf = io.BytesIO()
    pq.write_table(pa.table({"key": pa.array(sorted(keys), type=pa.string())}), buf)
    return buf.getvalue()


def build_version(dataset: str, release: str, version: int, blocked: dict[str, list[str]], signer: Signer,
                  previous_sha256: str | None, base: dict | None = None, **overrides) -> dict:
    """A published version (protocol v2): manifest bytes, signature, full and delta files, as the host builds them.

    ``base`` is the previous version (as returned here): the delta is taken against it.
    """
    blocked = {shard: sorted(set(keys)) for shard, keys in sorted(blocked.items()) if keys}
    files = {f"{shard}.parquet": blocklist_file(keys) for shard, keys in blocked.items()}
    delta = None
    if base is not None:
        entries = []
        for shard in sorted(set(blocked) | set(base["blocked"])):
            now, before = set(blocked.get(shard, ())), set(base["blocked"].get(shard, ()))
            entry = {"shard": shard}
            for side, keys in (("added", now - before), ("removed", before - now)):
                name = f"{shard}.{side}.parquet"
                if keys:
                    files[name] = blocklist_file(keys)
                entry.update({f"{side}_file": name if keys else None, f"{side}_count": len(keys),
                              f"{side}_sha256": hashlib.sha256(files[name]).hexdigest() if keys else None})
            if entry["added_count"] or entry["removed_count"]:
                entries.append(entry)
        delta = {"base_version": base["manifest"]["version"], "base_manifest_sha256": base["sha256"],
                 "added_keys": sum(e["added_count"] for e in entries),
                 "removed_keys": sum(e["removed_count"] for e in entries), "shards": entries}
    manifest = {
        "format": "takedown.blocklist/2",
        "dataset": dataset,
        "release": release,
        "version": version,
        "created_at": "2026-11-28T01:00:00Z",
        "expires_at": "2099-02-26T01:00:00Z",
        "previous_manifest_sha256": previous_sha256,
        "key_id": signer.key_id,
        "key_column": "key",
        "total_keys": sum(len(k) for k in blocked.values()),
        "shards": [
            {"shard": shard, "file": f"{shard}.parquet", "count": len(keys),
             "sha256": hashlib.sha256(files[f"{shard}.parquet"]).hexdigest()}
            for shard, keys in blocked.items()
        ],
        "delta": delta,
    }
    manifest.update(overrides)
    raw = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
    return {"manifest": manifest, "raw": raw, "sha256": hashlib.sha256(raw).hexdigest(),
            "sig": signer.sign(raw), "files": files, "blocked": blocked}


def rotation(old: Signer, new: Signer, at: str = "2026-12-01T00:00:00Z") -> dict:
    """A rotation statement from ``old`` to ``new``, signed by ``old``, as the host publishes it."""
    statement = {"old_key_id": old.key_id, "new_key_id": new.key_id, "new_public_key": new.b64, "at": at}
    raw = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    return {**statement, "signature": old.sign(raw)}


@pytest.fixture
def make_rotation():
    """make_rotation(old_signer, new_signer) -> a signed rotation statement."""
    return rotation


@pytest.fixture
def make_version():
    """make_version(dataset, release, version, blocked, signer, previous_sha256, base=None, **overrides) -> dict."""
    return build_version


# -- the host --------------------------------------------------------------------------


class FakeHost:
    """The host side of docs/mirror-sync.md, served for real on 127.0.0.1."""

    def __init__(self) -> None:
        self.signer = Signer()
        self.published_keys = [self.signer]
        self.retired_keys: list[Signer] = []
        self.rotations: list[dict] = []
        self.floor = 0  # feed events up to this id are pruned: an older cursor gets 410
        self.releases: dict[str, list[dict]] = {}
        self.versions: dict[tuple[str, str, int], dict] = {}
        self.events: list[dict] = []
        self.acks: list[dict] = []
        self.requests: list[dict] = []
        self.fail: dict[str, list[int]] = {}  # path -> statuses answered before serving it
        self.page_size = 2
        self.served_as: dict[int, object] = {}  # event id -> what the feed shows in its place (a broken event)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    # publishing
    def add_release(self, dataset: str, release: str, folder: Path | None = None, digests: dict | None = None):
        if folder is not None:
            digests = {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.parquet"))}
        shards = [{"shard": s, "parquet_sha256": d} for s, d in sorted((digests or {}).items())]
        self.releases.setdefault(dataset, []).append(
            {"release": release, "latest_version": 0, "shard_count": len(shards), "shards": shards})

    def latest(self, dataset: str, release: str) -> dict | None:
        versions = [v for (d, r, _), v in self.versions.items() if (d, r) == (dataset, release)]
        return max(versions, key=lambda v: v["manifest"]["version"], default=None)

    def publish(self, dataset: str, release: str, blocked: dict[str, list[str]], *, announce: bool = True,
                signer: Signer | None = None, **overrides) -> dict:
        previous = self.latest(dataset, release)
        number = previous["manifest"]["version"] + 1 if previous else 1
        version = build_version(dataset, release, number, blocked, signer or self.signer,
                                previous["sha256"] if previous else None, previous, **overrides)
        self.versions[(dataset, release, number)] = version
        for rel in self.releases.get(dataset, []):
            if rel["release"] == release:
                rel["latest_version"] = number
        if announce:
            self.announce(dataset, release, number)
        return version

    def announce(self, dataset: str, release: str, number: int, manifest_sha256: str | None = None) -> dict:
        """Append a feed event for an existing version (again, for a replay)."""
        version = self.versions[(dataset, release, number)]
        base = f"/api/v1/mirror/blocklists/{dataset}/{release}/{number}/"
        event = {
            "id": len(self.events) + 1, "type": "blocklist.published", "created_at": "2026-11-28T01:00:00Z",
            "dataset": dataset, "release": release, "version": number,
            "manifest_sha256": manifest_sha256 or version["sha256"],
            "manifest_url": self.url + base + "manifest.json",
            "signature_url": self.url + base + "manifest.json.sig",
            "files_url": self.url + base + "files/",
        }
        self.events.append(event)
        return event

    def rotate(self) -> Signer:
        """Make a new key the active one, the old one retired, with a signed rotation statement."""
        new = Signer()
        self.rotations.append(rotation(self.signer, new))
        self.retired_keys.append(self.signer)
        self.signer = new
        self.published_keys = [new]
        return new

    def acks_of(self, status: str | None = None) -> list[tuple[int, str]]:
        return [(a["version"], a["status"]) for a in self.acks if status in (None, a["status"])]

    # serving
    def _route(self, method: str, path: str, query: dict, body: bytes, headers) -> tuple[int, object]:
        if path == "/.well-known/takedown/signing-keys.json":
            keys = [{"key_id": s.key_id, "algorithm": "ed25519", "public_key": s.b64, "status": status}
                    for status, signers in (("active", self.published_keys), ("retired", self.retired_keys))
                    for s in signers]
            return 200, {"keys": keys, "rotations": self.rotations}
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"detail": "Invalid or revoked mirror token."}
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if method == "POST" and path == "/api/v1/mirror/acks":
            ack = json.loads(body)
            if (ack["dataset"], ack["release"], ack["version"]) not in self.versions:
                return 404, {"detail": "No such blocklist version."}
            self.acks.append(ack)
            return 201, dict(ack, id=len(self.acks))
        if method != "GET":
            return 405, {"detail": "Method not allowed."}
        if path == "/api/v1/mirror/feed":
            after = int(query.get("after", ["0"])[0])
            if 0 < after < self.floor:
                newest: dict[tuple, dict] = {}
                for event in self.events:
                    key = (event["dataset"], event["release"])
                    if key not in newest or event["version"] > newest[key]["version"]:
                        newest[key] = event
                return 410, {"detail": f"cursor {after} is older than the feed's retention window: resync from "
                                       f"the latest versions", "resync": True,
                             "cursor": max(self.floor, self.events[-1]["id"]), "latest": list(newest.values())}
            limit = min(int(query.get("limit", ["100"])[0]), self.page_size)
            waiting = [e for e in self.events if e["id"] > after]
            page = waiting[:limit]
            return 200, {"events": [self.served_as.get(e["id"], e) for e in page], "more": len(waiting) > len(page),
                         "next": page[-1]["id"] if page else after}
        if parts[:4] == ["api", "v1", "mirror", "datasets"] and len(parts) == 6 and parts[5] == "releases":
            return 200, {"dataset": parts[4], "releases": self.releases.get(parts[4], [])}
        if parts[:4] == ["api", "v1", "mirror", "blocklists"] and len(parts) >= 8:
            version = self.versions.get((parts[4], parts[5], int(parts[6])))
            if version is None:
                return 404, {"detail": "No such blocklist version."}
            if parts[7:] == ["manifest.json"]:
                return 200, version["raw"]
            if parts[7:] == ["manifest.json.sig"]:
                if version["sig"] is None:
                    return 404, {"detail": "Not found."}
                return 200, (version["sig"] + "\n").encode()
            if parts[7] == "files" and len(parts) == 9 and parts[8] in version["files"]:
                return 200, version["files"][parts[8]]
        return 404, {"detail": "Not found."}

    def _handler(self):
        host = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _serve(self, method):
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with host.lock:
                    host.requests.append({"method": method, "path": url.path, "query": url.query,
                                          "headers": dict(self.headers)})
                    queued = host.fail.get(url.path)
                    status, payload = (queued.pop(0), {"detail": "try later"}) if queued else \
                        host._route(method, url.path, parse_qs(url.query), body, self.headers)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream" if isinstance(payload, bytes)
                                 else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        return Handler


@pytest.fixture
def host(monkeypatch):
    """A running FakeHost; the client reaches it directly, whatever proxy the environment sets."""
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake = FakeHost()
    fake.thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


@pytest.fixture
def run_cli():
    """run_cli(*args) -> CompletedProcess of `python -m mirror_client *args` from the repository root."""

    def run(*args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")
        return subprocess.run([sys.executable, "-m", "mirror_client", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=120)

    return run
