"""Compiled inner loops of the index (numba): linear-time sorts, bucket scans, Hamming search.

Each loop here runs over millions of rows at ingest or thousands of candidates
per query, where numpy's whole-array operations would need several sorts or
gigabytes of temporaries. Compiled once and cached next to this file.
"""
import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)


@_jit
def counting_order(buckets, nbuckets):
    """(offsets, order): item positions grouped by bucket; bucket b is order[offsets[b]:offsets[b + 1]]."""
    offsets = np.zeros(nbuckets + 1, np.uint32)
    for b in buckets:
        offsets[b + 1] += 1
    for i in range(nbuckets):
        offsets[i + 1] += offsets[i]
    fill = offsets[:-1].copy()
    order = np.empty(len(buckets), np.uint32)
    for i in range(len(buckets)):
        b = buckets[i]
        order[fill[b]] = i
        fill[b] += 1
    return offsets, order


@_jit
def exact_lookup(offsets, fps, rows, shift, queries):
    """(query index, row) for every stored fingerprint equal to a query's."""
    found = 0
    for q in range(len(queries)):
        b = queries[q] >> shift
        for p in range(offsets[b], offsets[b + 1]):
            if fps[p] == queries[q]:
                found += 1
    query_of = np.empty(found, np.int64)
    row_of = np.empty(found, np.int64)
    k = 0
    for q in range(len(queries)):
        b = queries[q] >> shift
        for p in range(offsets[b], offsets[b + 1]):
            if fps[p] == queries[q]:
                query_of[k] = q
                row_of[k] = rows[p]
                k += 1
    return query_of, row_of


@_jit
def first_duplicate(offsets, fps):
    """Positions of the first two equal fingerprints (equal ones share a bucket), or (-1, -1)."""
    for b in range(len(offsets) - 1):
        for i in range(offsets[b], offsets[b + 1]):
            for j in range(i + 1, offsets[b + 1]):
                if fps[i] == fps[j]:
                    return i, j
    return -1, -1


@_jit
def _popcount64(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@_jit
def hamming(a, b):
    total = 0
    for w in range(4):
        total += _popcount64(a[w] ^ b[w])
    return total


@_jit
def _slot_distance(a, b, start, width):
    """Hamming distance between bits [start, start + width) of two 4-word hashes."""
    total = 0
    end = start + width
    for w in range(4):
        lo = max(start, w * 64)
        hi = min(end, w * 64 + 64)
        if lo >= hi:
            continue
        x = a[w] ^ b[w]
        # keep bits lo..hi of this word, counted from its most significant bit
        x = (x << np.uint64(lo - w * 64)) >> np.uint64(lo - w * 64)
        x = x >> np.uint64(w * 64 + 64 - hi)
        total += _popcount64(x)
    return total


@_jit
def mih_search(slot_values, starts, widths, masks, offsets, items, words, query_words, radius, flips):
    """Every (query, item, distance) within `radius`, probing each slot's buckets at the query's value
    flipped by each mask. An item that an earlier slot also reaches is skipped there, so each
    (query, item) comes out once without a set."""
    out_query = []
    out_item = []
    out_distance = []
    for q in range(len(query_words)):
        for s in range(len(widths)):
            limit = np.uint64(1) << np.uint64(widths[s])
            for mask in masks:
                if mask >= limit:
                    continue
                b = slot_values[q, s] ^ mask
                for p in range(offsets[s, b], offsets[s, b + 1]):
                    item = items[s, p]
                    d = hamming(query_words[q], words[item])
                    if d > radius:
                        continue
                    earlier = False
                    for e in range(s):
                        if _slot_distance(query_words[q], words[item], starts[e], widths[e]) <= flips:
                            earlier = True
                            break
                    if not earlier:
                        out_query.append(q)
                        out_item.append(item)
                        out_distance.append(d)
    return np.array(out_query, np.int64), np.array(out_item, np.int64), np.array(out_distance, np.int64)
