"""Takedown mirror client: apply the host's signed blocklists to a local img2dataset copy.

No Django here: stdlib, pyarrow and cryptography only.
"""

from .apply import ApplyResult, apply_blocklist, member_key, rewrite_parquet, rewrite_tar
from .errors import MirrorClientError
from .state import SyncState, load_state, save_state
from .sync import SyncResult, sync
from .verify import check_chain, check_identity, key_id_for, verify_manifest, verify_shard_file

__version__ = "1.0"

__all__ = [
    "ApplyResult", "MirrorClientError", "SyncResult", "SyncState", "apply_blocklist", "check_chain",
    "check_identity", "key_id_for", "load_state", "member_key", "rewrite_parquet", "rewrite_tar", "save_state",
    "sync", "verify_manifest", "verify_shard_file",
]
