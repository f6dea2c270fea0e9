"""Bucket tables: a counting sort of items by bucket id, looked up in O(1) per bucket.

The exact indexes (fingerprints bucketed by their top bits) and the PDQ
multi-index (rows bucketed by each slot's bits) are both this one structure:
an offsets array of 2**bits + 1 positions and the items in bucket order. Built
with numpy's radix sort (stable argsort on 16-bit digits) in linear time, saved
as .npy and opened memory-mapped.
"""
import numpy as np

_DIGIT = 16


def order_by_bucket(buckets: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, order): `order` lists item positions bucket by bucket; bucket b is order[offsets[b]:offsets[b+1]]."""
    buckets = np.asarray(buckets, dtype=np.uint64)
    order = np.arange(len(buckets), dtype=np.int64)
    # LSD radix sort, 16 bits at a time: numpy's stable argsort of uint16 is a counting sort.
    for shift in range(0, bits, _DIGIT):
        digit = ((buckets[order] >> np.uint64(shift)) & np.uint64((1 << _DIGIT) - 1)).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
    counts = np.bincount(buckets.astype(np.int64), minlength=1 << bits) if len(buckets) else np.zeros(1 << bits)
    offsets = np.zeros((1 << bits) + 1, dtype=np.uint32 if len(buckets) < 2**32 else np.uint64)
    np.cumsum(counts, out=offsets[1:])
    return offsets, order


def bits_for(count: int, *, per_bucket: int = 4, low: int = 8, high: int = 24) -> int:
    """Bucket bits giving about `per_bucket` items per bucket, within [low, high]."""
    return int(np.clip(np.ceil(np.log2(max(count, 1) / per_bucket)), low, high))


def ranges(offsets: np.ndarray, buckets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query bucket (any shape), the positions it holds: (query index, position), flattened."""
    flat = np.asarray(buckets, dtype=np.int64).ravel()
    lo = np.asarray(offsets[flat], dtype=np.int64)
    counts = np.asarray(offsets[flat + 1], dtype=np.int64) - lo
    total = int(counts.sum())
    owner = np.repeat(np.arange(len(flat), dtype=np.int64), counts)
    if not total:
        return owner, owner
    steps = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return owner, np.repeat(lo, counts) + steps
