"""The Ed25519 key that signs blocklist manifests."""
import base64
import functools
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _load_pem(data: bytes, where: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(f"{where}: not a PEM private key without password ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ImproperlyConfigured(f"{where}: the key is not an Ed25519 key")
    return key


def _generated_key() -> Ed25519PrivateKey:
    path = Path(settings.DATA_DIR) / "keys" / "blocklist-ed25519.pem"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process generated it first: use theirs
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(pem)
    return _load_pem(path.read_bytes(), str(path))


@functools.cache
def private_key() -> Ed25519PrivateKey:
    """From BLOCKLIST_SIGNING_KEY (PEM text or a path to it), else generated once under DATA_DIR."""
    configured = settings.BLOCKLIST_SIGNING_KEY
    if not configured:
        return _generated_key()
    if configured.startswith("-----BEGIN"):
        return _load_pem(configured.encode(), "BLOCKLIST_SIGNING_KEY")
    path = Path(configured).expanduser()
    if not path.is_file():
        raise ImproperlyConfigured(f"BLOCKLIST_SIGNING_KEY: {configured!r} is neither PEM text nor a file")
    return _load_pem(path.read_bytes(), f"BLOCKLIST_SIGNING_KEY file {configured}")


def public_key_bytes() -> bytes:
    return private_key().public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id() -> str:
    """First 16 hex characters of the sha256 of the raw public key."""
    return hashlib.sha256(public_key_bytes()).hexdigest()[:16]


def sign(data: bytes) -> str:
    """Base64 of the Ed25519 signature of `data`."""
    return base64.b64encode(private_key().sign(data)).decode("ascii")


def public_keys_document() -> dict:
    """What /.well-known/takedown/signing-keys.json serves."""
    return {
        "keys": [
            {
                "key_id": key_id(),
                "algorithm": "ed25519",
                "public_key": base64.b64encode(public_key_bytes()).decode("ascii"),
                "status": "active",
            }
        ]
    }
