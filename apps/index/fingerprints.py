"""64-bit fingerprints of identifiers: what the index buckets and searches.

Strings (normalised URLs, keys, host names) are hashed with FNV-1a and mixed by
MurmurHash3's finaliser, by the same compiled loop at ingest (millions a
second) and at query time. Fingerprints only pick candidates: every candidate
is checked against the stored value, so a collision costs a comparison, never
a wrong match. Digests (md5, sha1, sha256, pdq) are already uniform: their
first eight bytes are the fingerprint.
"""
import numpy as np

# Stored in every index: an index made with another function is refused, not misread.
NAME = "fnv1a64+murmur3mix"


def strings(values: list[str]) -> np.ndarray:
    """uint64 fingerprints of strings, as the index computes them at ingest."""
    from apps.index import kernels

    if not values:
        return np.zeros(0, dtype=np.uint64)
    encoded = [value.encode("utf-8", "surrogatepass") for value in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return kernels.fingerprint_strings(np.frombuffer(b"".join(encoded), dtype=np.uint8), offsets)


def digests(values: list[bytes]) -> np.ndarray:
    """uint64 fingerprints of binary digests: their first eight bytes, big-endian."""
    if not values:
        return np.zeros(0, dtype=np.uint64)
    return np.frombuffer(b"".join(v[:8] for v in values), dtype=">u8").astype(np.uint64)


def digest_column(codes: np.ndarray) -> np.ndarray:
    """Fingerprints of an (n, width) uint8 array of digests, vectorised."""
    return np.ascontiguousarray(codes[:, :8]).view(">u8").ravel().astype(np.uint64)
