"""The PDQ index: exact range search (checked against brute force), quality filter, increments,
dihedral queries and loading from the store."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detect.pdq_index import InvalidHash, PdqIndex, dihedral_variants, hamming, parse_hex
from model import records as r
from store.db import Store
from store.ingest import IngestContext, ingest
from tests import factories as f
from tests.conftest import TEST_KEY


def _near(rng: np.random.Generator, code: np.ndarray, flips: int) -> np.ndarray:
    bits = np.unpackbits(code)
    bits[rng.choice(256, flips, replace=False)] ^= 1
    return np.packbits(bits)


def _brute(db: np.ndarray, ids: np.ndarray, queries: np.ndarray, radius: int) -> set[tuple[int, int, int]]:
    x = db.view(np.uint64).reshape(-1, 4)
    out = set()
    for qi, q in enumerate(queries.view(np.uint64).reshape(-1, 4)):
        d = np.bitwise_count(x ^ q).sum(axis=1)
        out |= {(qi, int(ids[k]), int(d[k])) for k in np.flatnonzero(d <= radius)}
    return out


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3000), st.integers(0, 60))
def test_range_search_equals_brute_force(seed: int, n: int, extra: int) -> None:
    rng = np.random.default_rng(seed)
    db = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    ids = rng.permutation(n).astype(np.int64) + 1000
    index = PdqIndex(rebuild_threshold=max(1, n // 2))
    index.add_codes(ids[: n // 2], db[: n // 2])
    index.add_codes(ids[n // 2:], db[n // 2:])  # part in the tables, maybe part pending
    picks = rng.integers(0, n, 40)
    queries = np.stack([_near(rng, db[p], int(rng.integers(0, 45))) for p in picks]
                       + [rng.integers(0, 256, 32, dtype=np.uint8) for _ in range(extra % 5)])
    for radius in (31, 20):
        q, found_ids, dist = index.search_codes(queries, radius)
        got = set(zip(q.tolist(), found_ids.tolist(), dist.tolist(), strict=True))
        assert got == _brute(db, ids, queries, radius)
        assert len(got) == len(q)


def test_quality_filter_and_hex_api() -> None:
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, (3, 32), dtype=np.uint8)
    hexes = [bytes(c).hex() for c in codes]
    index = PdqIndex()
    assert index.add([1, 2, 3, 4, 5], [hexes[0], hexes[1], hexes[2], None, "zz"], [90, 49, None, 90, 90]) == 2
    assert len(index) == 2
    matches = index.search([hexes[0], hexes[1], hexes[2]], qualities=[80, 80, 10])
    assert [(mt.query, mt.match_id, mt.distance) for mt in matches] == [(0, 1, 0)]
    near = bytes(_near(rng, codes[0], 31)).hex()
    assert [(mt.match_id, mt.distance) for mt in index.search([near])] == [(1, 31)]
    assert index.search([bytes(_near(rng, codes[0], 32)).hex()]) == []


def test_dihedral_query_matches_mirrored_hash() -> None:
    rng = np.random.default_rng(2)
    original = bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex()
    mirrored = dihedral_variants(original)[1]
    assert dihedral_variants(original)[0] == original
    assert len(set(dihedral_variants(original))) == 8
    index = PdqIndex()
    index.add([7], [original])
    assert index.search([mirrored]) == []
    assert [(mt.match_id, mt.distance) for mt in index.search([mirrored], dihedral=True)] == [(7, 0)]


def test_invalid_hashes_are_named() -> None:
    with pytest.raises(InvalidHash, match="64 hex"):
        parse_hex("abc")
    with pytest.raises(InvalidHash, match="hex digits"):
        parse_hex("g" * 64)
    assert hamming("0" * 64, "f" + "0" * 63) == 4


def test_index_from_store_is_incremental(sqlite_store: Store) -> None:
    rng = np.random.default_rng(3)
    hexes = [bytes(rng.integers(0, 256, 32, dtype=np.uint8)).hex() for _ in range(3)]
    media = tuple(r.MediaFingerprint(sha256=f"{i:064x}", pdq=h, pdq_quality=q)
                  for i, (h, q) in enumerate(zip(hexes, [90, 30, 70], strict=True)))
    with sqlite_store.session() as s:
        ingest(s, [f.snapshot(), f.post(1, media=media[:2])], IngestContext(key=TEST_KEY))
    with sqlite_store.session() as s:
        index = PdqIndex.from_store(s)
        assert len(index) == 1  # the quality-30 hash is ignored
    with sqlite_store.session() as s:
        ingest(s, [f.post(2, media=media[2:])], IngestContext(key=TEST_KEY))
    with sqlite_store.session() as s:
        assert index.update_from_store(s) == 1
        assert index.update_from_store(s) == 0
        assert {mt.query for mt in index.search(hexes)} == {0, 2}
