import numpy as np
import pytest

from apps.index import mih


def _near(codes, rng, max_flips):
    bits = np.unpackbits(codes, axis=1)
    for row in bits:
        row[rng.choice(256, int(rng.integers(0, max_flips + 1)), replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def _brute_force(codes, queries, radius):
    stored, asked = mih.words(codes), mih.words(queries)
    found = set()
    for q, word in enumerate(asked):
        distance = np.bitwise_count(stored ^ word).sum(axis=1)
        for item in np.nonzero(distance <= radius)[0]:
            found.add((q, int(item), int(distance[item])))
    return found


@pytest.mark.parametrize("count, radius", [(50, 31), (5_000, 31), (20_000, 31), (20_000, 40), (3_000, 8)])
def test_it_finds_exactly_what_brute_force_finds(tmp_path, count, radius):
    rng = np.random.default_rng(count + radius)
    codes = rng.integers(0, 256, (count, 32), dtype=np.uint8)
    codes[-5:] = codes[:5]  # duplicates
    queries = np.concatenate([_near(codes[rng.integers(0, count, 40)], rng, radius + 4),
                              rng.integers(0, 256, (10, 32), dtype=np.uint8)])
    mih.build(mih.words(codes), tmp_path)
    query, item, distance = mih.MultiIndex(tmp_path).search(queries, radius)
    found = set(zip(query.tolist(), item.tolist(), distance.tolist()))
    assert len(found) == len(query)  # each (query, item) once
    assert found == _brute_force(codes, queries, radius)


def test_it_lays_out_even_slots_that_cover_all_256_bits():
    for count in (1, 100, 10**3, 10**6, 10**8):
        bits, widths = mih.layout(count)
        assert sum(widths) == 256 and max(widths) == bits <= 22
        assert max(widths) - min(widths) <= 1
