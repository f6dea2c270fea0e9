"""Takedown mirror client: apply the host's signed blocklists to a local img2dataset copy.

No Django here: stdlib, pyarrow and cryptography only.
"""

# Before the imports: api.py puts it in the User-Agent. Same as pyproject.toml's version.
__version__ = "2.0"

from .apply import ApplyResult, apply_blocklist, member_key, rewrite_parquet, rewrite_tar  # noqa: E402
from .audit import AuditResult, audit  # noqa: E402
from .errors import MirrorClientError  # noqa: E402
from .state import SyncState, load_state, save_state  # noqa: E402
from .sync import SyncResult, sync  # noqa: E402
from .verify import (  # noqa: E402
    check_chain,
    check_identity,
    key_id_for,
    trust_rotations,
    verify_manifest,
    verify_shard_file,
)

__all__ = [
    "ApplyResult", "AuditResult", "MirrorClientError", "SyncResult", "SyncState", "apply_blocklist", "audit",
    "check_chain", "check_identity", "key_id_for", "load_state", "member_key", "rewrite_parquet", "rewrite_tar",
    "save_state", "sync", "trust_rotations", "verify_manifest", "verify_shard_file",
]
