"""Exceptions of the mirror client: each one's message is the one-line error shown to the operator."""

from __future__ import annotations


class MirrorClientError(Exception):
    """Base of every expected failure.

    ``version`` is set when the failure concerns one blocklist version, so that
    the sync can acknowledge that version as ``failed``.
    """

    def __init__(self, message: str, *, version: int | None = None) -> None:
        super().__init__(message)
        self.version = version


class ServerUnreachable(MirrorClientError):
    """No HTTP answer at all (refused, reset, timeout, DNS)."""


class HttpError(MirrorClientError):
    """The server answered with an error status; ``payload`` is its JSON body when it sent one."""

    def __init__(self, status: int, method: str, path: str, detail: str, payload: object = None) -> None:
        message = f"HTTP {status} from {method} {path}"
        if detail:
            message += f": {detail}"
        super().__init__(message)
        self.status = status
        self.path = path
        self.detail = detail
        self.payload = payload


class VerificationError(MirrorClientError):
    """A manifest, signature, hash chain or shard file cannot be trusted."""


class UnknownKeyError(VerificationError):
    """The manifest names a key the client does not trust, and no rotation statement chains to it."""


class RollbackError(VerificationError):
    """The server offered a version older than (or equal to) the one already applied."""


class ExpiredError(VerificationError):
    """The manifest's ``expires_at`` is in the past."""


class UnsignedError(VerificationError):
    """The manifest has no signature (``manifest.json.sig`` missing or empty)."""


class ChainError(VerificationError):
    """A manifest does not name the sha256 of the version before it (hash chain broken)."""


class ApplyError(MirrorClientError):
    """A local shard cannot be read or rewritten."""


class StateError(MirrorClientError):
    """The state file is unreadable or belongs to another server, dataset or release."""


class ReleaseError(MirrorClientError):
    """The release held by the data folder cannot be determined."""
