"""Compiled inner loops of the index (numba): linear-time sorts, bucket scans, Hamming search.

Each loop here runs over millions of rows at ingest or thousands of candidates
per query, where numpy's whole-array operations would need several sorts or
gigabytes of temporaries. Compiled once and cached next to this file.
"""
import numba
import numpy as np

_jit = numba.njit(cache=True, nogil=True)


@_jit
def _mix(h):
    # MurmurHash3's finaliser: every input bit reaches every output bit, so the top bits
    # that pick a bucket are as good as the rest, even for keys that differ in one digit.
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xC4CEB9FE1A85EC53)
    h ^= h >> np.uint64(33)
    return h


@_jit
def fingerprint_strings(data, offsets):
    """64-bit fingerprints of UTF-8 strings (FNV-1a, then mixed): data[offsets[i]:offsets[i + 1]]."""
    n = len(offsets) - 1
    out = np.empty(n, np.uint64)
    for i in range(n):
        h = np.uint64(0xCBF29CE484222325)
        for k in range(offsets[i], offsets[i + 1]):
            h = (h ^ np.uint64(data[k])) * np.uint64(0x100000001B3)
        out[i] = _mix(h)
    return out


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
def bucket_scatter(fps, rows, shift, nbuckets):
    """A bucket table in one pass: offsets, then the fingerprints and rows grouped by fps >> shift."""
    offsets = np.zeros(nbuckets + 1, np.uint32)
    for f in fps:
        offsets[(f >> shift) + 1] += 1
    for i in range(nbuckets):
        offsets[i + 1] += offsets[i]
    fill = offsets[:-1].copy()
    fps_out = np.empty(len(fps), np.uint64)
    rows_out = np.empty(len(fps), np.uint32)
    for i in range(len(fps)):
        b = fps[i] >> shift
        fps_out[fill[b]] = fps[i]
        rows_out[fill[b]] = rows[i]
        fill[b] += 1
    return offsets, fps_out, rows_out


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


_HEX = np.full(256, 255, np.uint8)
for _digit, _char in enumerate(b"0123456789abcdef"):
    _HEX[_char] = _digit
for _digit, _char in enumerate(b"ABCDEF", start=10):
    _HEX[_char] = _digit


@_jit
def hex_decode(data, offsets, valid, width):
    """Fixed-width hex strings (upper or lower case) to (n, width) bytes; also the first bad row or -1.

    A valid row must be exactly 2 * width hex digits; null rows stay zero.
    """
    n = len(offsets) - 1
    out = np.zeros((n, width), np.uint8)
    for i in range(n):
        if not valid[i]:
            continue
        start = offsets[i]
        if offsets[i + 1] - start != 2 * width:
            return out, i
        bad = 0
        for j in range(width):
            high = _HEX[data[start + 2 * j]]
            low = _HEX[data[start + 2 * j + 1]]
            bad |= high | low
            out[i, j] = (high << 4) | (low & 15)
        if bad & 0xF0:
            return out, i
    return out, -1


@_jit
def _hex_value(c):
    if 48 <= c <= 57:
        return c - 48
    if 65 <= c <= 70:
        return c - 55
    return -1


@_jit
def canonical_urls(data, offsets):
    """Whether each URL is already what normalise_url returns (apps.datasets.ingest.CANONICAL_URL):
    lower-case http(s), a plain lower-case host, a path, no fragment, space or control character,
    only percent-escapes normalise_url keeps (upper-case hex of a reserved byte), no bare final '?'."""
    n = len(offsets) - 1
    out = np.zeros(n, np.bool_)
    for i in range(n):
        lo, hi = offsets[i], offsets[i + 1]
        p = lo
        if hi - lo >= 8 and data[p] == 104 and data[p + 1] == 116 and data[p + 2] == 116 and data[p + 3] == 112:
            p += 4
            if data[p] == 115:  # https
                p += 1
            if not (p + 3 <= hi and data[p] == 58 and data[p + 1] == 47 and data[p + 2] == 47):
                continue
            p += 3
        else:
            continue
        # host: labels of [a-z0-9-], separated by single dots, then '/'
        label = 0
        ok = True
        while p < hi and data[p] != 47:
            c = data[p]
            if c == 46:
                if label == 0:
                    ok = False
                    break
                label = 0
            elif (97 <= c <= 122) or (48 <= c <= 57) or c == 45:
                label += 1
            else:
                ok = False
                break
            p += 1
        if not ok or label == 0 or p >= hi:
            continue
        p += 1  # the '/'
        while p < hi:
            c = data[p]
            if c <= 32 or c == 35 or c == 127:
                ok = False
                break
            if c == 37:  # '%': only an escape normalise_url keeps
                if p + 2 >= hi:
                    ok = False
                    break
                a, b = _hex_value(data[p + 1]), _hex_value(data[p + 2])
                if a < 0 or b < 0:
                    ok = False
                    break
                v = a * 16 + b
                if (65 <= v <= 90) or (97 <= v <= 122) or (48 <= v <= 57) or v == 45 or v == 46 or v == 95 \
                        or v == 126:
                    ok = False  # an escaped unreserved character: normalise_url decodes it
                    break
                p += 3
            else:
                p += 1
        # A bare final '?' is dropped by normalise_url.
        out[i] = ok and data[hi - 1] != 63
    return out


@_jit
def host_spans(data, offsets):
    """(start, end, FNV-1a of the bytes) of the host of each URL, or (0, 0, 0) when it has none.

    The host runs from after '://' (and any 'user@') to the first ':', '/', '?' or '#'; an
    IPv6 literal keeps its brackets. Only URLs already in canonical form come here.
    """
    n = len(offsets) - 1
    starts = np.zeros(n, np.int64)
    ends = np.zeros(n, np.int64)
    hashes = np.zeros(n, np.uint64)
    for i in range(n):
        lo, hi = offsets[i], offsets[i + 1]
        p = lo
        while p + 2 < hi and not (data[p] == 58 and data[p + 1] == 47 and data[p + 2] == 47):
            p += 1
        if p + 2 >= hi:
            continue
        p += 3
        start = p
        q = p
        while q < hi and data[q] != 47 and data[q] != 63 and data[q] != 35:
            if data[q] == 64:  # '@': what came before was user information
                start = q + 1
            q += 1
        end = start
        if end < q and data[end] == 91:  # '[': an IPv6 literal
            while end < q and data[end] != 93:
                end += 1
            end = min(end + 1, q)
        else:
            while end < q and data[end] != 58:
                end += 1
        h = np.uint64(0xCBF29CE484222325)
        for k in range(start, end):
            h = (h ^ np.uint64(data[k])) * np.uint64(0x100000001B3)
        starts[i], ends[i], hashes[i] = start, end, h
    return starts, ends, hashes
