"""Multi-index hashing for PDQ: every hash within a Hamming radius, exactly, without a scan.

A 256-bit hash is cut into m slots. Two hashes within distance d agree, in at
least one slot, up to d // m bits (pigeonhole: m slots that each differ in
d // m + 1 bits or more differ in more than d bits). So probing each slot's
bucket table at the query's slot value and at every value up to d // m bits
away finds every candidate, and exact distances filter them: recall is 100%
by construction, whatever the data.

Slots get about log2(n) bits (Norouzi et al.), so buckets hold a few rows and a
query at d = 31 checks a few thousand candidates even at 10M hashes. The
tables are a counting sort per slot, saved as .npy and opened memory-mapped.
faiss's IndexBinaryMultiHash does the same search with fixed 16-bit slots and
hash maps: here it took 4 s and 420 MB per million hashes to build
(docs/benchmarks.md), so it would not fit a 10M-row release in 2 GB.
"""
import json
import os
from concurrent.futures import ThreadPoolExecutor
from itertools import combinations
from pathlib import Path

import numpy as np

BITS = 256
_THREADS = max(1, min(4, os.cpu_count() or 1))
_QUERY_CHUNK = 64


def words(codes: np.ndarray) -> np.ndarray:
    """(n, 32) uint8 codes as (n, 4) uint64 words, for XOR and popcount."""
    return np.ascontiguousarray(codes).view(">u8").astype(np.uint64).reshape(-1, 4)


def layout(count: int) -> tuple[int, list[int]]:
    """(widest slot, width of each slot) for an index of `count` hashes.

    About log2(count) bits a slot, at most 22 (offsets tables of 4M entries: at
    10M hashes that is about 3 rows a bucket), spread evenly: one narrow slot
    would have crowded buckets and slow every query down.
    """
    slots = max(-(-BITS // 22), min(32, round(BITS / max(np.log2(max(count, 2)), 1))))
    base, extra = divmod(BITS, slots)
    widths = [base + 1] * extra + [base] * (slots - extra)
    return max(widths), widths


def _slot(code_words: np.ndarray, start: int, width: int) -> np.ndarray:
    """The `width` bits from bit `start` (most significant first) of each hash, as integers."""
    word, offset = divmod(start, 64)
    mask = np.uint64((1 << width) - 1)
    if offset + width <= 64:
        return (code_words[:, word] >> np.uint64(64 - offset - width)) & mask
    low = offset + width - 64  # the slot straddles two words
    high = (code_words[:, word] & np.uint64((1 << (64 - offset)) - 1)) << np.uint64(low)
    return (high | (code_words[:, word + 1] >> np.uint64(64 - low))) & mask


def _starts(widths: list[int]) -> list[int]:
    return np.cumsum([0, *widths[:-1]]).tolist()


def _slot_values(code_words: np.ndarray, widths: list[int]) -> np.ndarray:
    """(n, m) uint64: each hash's bits cut into slots of `widths`, most significant first."""
    return np.stack([_slot(code_words, start, width) for start, width in zip(_starts(widths), widths)], axis=1)


def build(code_words: np.ndarray, folder: Path) -> None:
    """Write the slot tables and the (n, 4) uint64 words of PDQ hashes into `folder`.

    Slots are sorted a core each, and written one after another with plain
    writes, so memory holds a couple of slots at a time, not the whole table.
    """
    from apps.index import kernels

    bits, widths = layout(len(code_words))
    starts = _starts(widths)

    def one(slot: int) -> tuple[np.ndarray, np.ndarray]:
        return kernels.counting_order(_slot(code_words, starts[slot], widths[slot]), 1 << bits)

    with open(folder / "mih_offsets.npy", "wb") as offsets_file, open(folder / "mih_items.npy", "wb") as items_file:
        np.lib.format.write_array_header_1_0(offsets_file, {
            "descr": "<u4", "fortran_order": False, "shape": (len(widths), (1 << bits) + 1)})
        np.lib.format.write_array_header_1_0(items_file, {
            "descr": "<u4", "fortran_order": False, "shape": (len(widths), len(code_words))})
        # The sorts release the GIL: one slot per core, written in slot order as they finish.
        with ThreadPoolExecutor(_THREADS) as pool:
            for offsets, order in pool.map(one, range(len(widths))):
                offsets_file.write(offsets.astype("<u4", copy=False).data)
                items_file.write(order.astype("<u4", copy=False).data)
    np.save(folder / "pdq_words.npy", code_words)
    (folder / "mih.json").write_text(json.dumps({"bits": bits, "widths": widths}))


def _masks(bits: int, flips: int) -> np.ndarray:
    masks = [0]
    for count in range(1, flips + 1):
        masks.extend(sum(1 << b for b in chosen) for chosen in combinations(range(bits), count))
    return np.asarray(masks, dtype=np.uint64)


class MultiIndex:
    """Memory-mapped slot tables of one index segment."""

    def __init__(self, folder: Path):
        layout_ = json.loads((folder / "mih.json").read_text())
        self.bits = layout_["bits"]
        self.widths = np.asarray(layout_["widths"], dtype=np.int64)
        self.offsets = np.load(folder / "mih_offsets.npy", mmap_mode="r")
        self.items = np.load(folder / "mih_items.npy", mmap_mode="r")
        self.words = np.load(folder / "pdq_words.npy", mmap_mode="r")

    def __len__(self) -> int:
        return len(self.words)

    def search(self, codes: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(query index, item index, distance) of every stored hash within `radius` of each query."""
        from apps.index import kernels

        query_words = words(codes)
        flips = radius // len(self.widths)
        masks = _masks(self.bits, flips)
        values = _slot_values(query_words, self.widths.tolist())
        starts = np.asarray(_starts(self.widths.tolist()), dtype=np.int64)

        def chunk(first):
            last = first + _QUERY_CHUNK
            q, item, d = kernels.mih_search(values[first:last], starts, self.widths, masks, self.offsets,
                                            self.items, self.words, query_words[first:last], radius, flips)
            return q + first, item, d

        firsts = range(0, len(codes), _QUERY_CHUNK)
        if len(firsts) <= 1:
            return chunk(0)
        # The search releases the GIL: chunks of queries run on every core.
        with ThreadPoolExecutor(_THREADS) as pool:
            parts = list(pool.map(chunk, firsts))
        return tuple(np.concatenate(column) for column in zip(*parts))
