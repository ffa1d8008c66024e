"""Exact range search over PDQ hashes (Hamming distance ≤ 31 of 256 bits).

Why a multi-index hash and not faiss alone: a flat scan of 1,000,000 hashes costs ~7 ms per query
(~140 queries/s), and faiss's ``IndexBinaryMultiHash`` needs one bit flip per table to be exact at
radius 31, where it managed ~700 queries/s here (bench/pdq.py). Multi-index hashing (Norouzi et
al.) splits the 256 bits into 16 substrings of 16 bits; by pigeonhole, two hashes within distance
31 agree on at least one substring up to one bit (16 substrings × 2 bits > 31). So each query probes
16 tables × 17 keys (the substring and its 16 one-bit neighbours), and only the few thousand
candidates found there are compared in full, vectorised with numpy. Recall is exact by
construction (tests and the benchmark check it against brute force).

Tables are sorted arrays with a 65,536-entry offset table each, rebuilt in one ``argsort`` when
enough new hashes have arrived; hashes added since the last rebuild sit in a small faiss
``IndexBinaryFlat`` that is scanned exactly. So adding a few hashes per detector run is cheap and a
bulk load costs one rebuild.

Mirrors and rotations: PDQ is not invariant to them. :func:`dihedral_variants` derives the 8
dihedral versions *from the hash itself*: PDQ bits are signs of a 16 × 16 DCT against the median,
and mirroring an image negates the odd-frequency coefficients (a fixed XOR mask), rotating it by
90° transposes the matrix. The median moves a little with the sign changes, so a derived variant
is within a few bits of the hash of the actually mirrored image (tests measure this); when the
image is at hand, :func:`crawlers.media.dihedral_hashes` gives the exact ones.

Hashes with quality < 50 are too flat to trust and are neither indexed nor queried.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import combinations

import faiss
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from store import models as m

BITS = 256
BYTES = BITS // 8
MATCH_DISTANCE = 31
MIN_QUALITY = 50
SUBSTRINGS = 16  # 16-bit substrings
KEYS = 1 << 16
#: New hashes are kept in a flat index until there are this many, then merged into the tables.
REBUILD_THRESHOLD = 4096
#: Queries per vectorised batch: small enough for the candidate arrays (~270k at 1M hashes) to
#: stay in cache, large enough to amortise numpy's per-call overhead.
QUERY_BATCH = 64
THREADS = min(4, os.cpu_count() or 1)


class InvalidHash(ValueError):
    pass


def parse_hex(value: str) -> bytes:
    """64 hex characters → 32 bytes; :class:`InvalidHash` otherwise."""
    text = value.strip().lower()
    if len(text) != 2 * BYTES:
        raise InvalidHash(f"PDQ hash must be 64 hex characters, got {len(text)}")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise InvalidHash("PDQ hash must contain only hex digits 0-9a-f") from None


def codes_from_hex(hashes: Iterable[str]) -> np.ndarray:
    """Hex hashes as an (n, 32) uint8 array."""
    blob = b"".join(parse_hex(h) for h in hashes)
    return np.frombuffer(blob, dtype=np.uint8).reshape(-1, BYTES).copy()


def hamming(a: str, b: str) -> int:
    """Hamming distance of two hex PDQ hashes."""
    return (int.from_bytes(parse_hex(a), "big") ^ int.from_bytes(parse_hex(b), "big")).bit_count()


def _dihedral_masks() -> list[np.ndarray]:
    odd_cols = np.zeros((16, 16), dtype=np.uint8)
    odd_cols[:, 1::2] = 1
    odd_rows = odd_cols.T.copy()
    return [np.zeros((16, 16), dtype=np.uint8), odd_cols, odd_rows, odd_cols ^ odd_rows]


_MASKS = _dihedral_masks()


def dihedral_codes(codes: np.ndarray) -> np.ndarray:
    """(n, 32) codes → (n, 8, 32): identity, mirror, flip, 180°, and the same four transposed.
    Variant 0 is the hash itself."""
    bits = np.unpackbits(codes, axis=1).reshape(-1, 16, 16)
    variants = []
    for transposed in (bits, bits.transpose(0, 2, 1)):
        for mask in _MASKS:
            variants.append(np.packbits((transposed ^ mask[None]).reshape(-1, BITS), axis=1))
    return np.stack(variants, axis=1)


def dihedral_variants(hex_hash: str) -> list[str]:
    """The 8 dihedral variants of a PDQ hash, derived from its bits (see module docstring)."""
    return [bytes(row).hex() for row in dihedral_codes(codes_from_hex([hex_hash]))[0]]


def _popcount_rows(x: np.ndarray) -> np.ndarray:
    return np.bitwise_count(x).sum(axis=1, dtype=np.int64)


@dataclass(frozen=True, slots=True)
class PdqMatch:
    query: int  # position of the query in the list searched
    match_id: int  # id the matched hash was added with (media_fingerprints.id for store indexes)
    distance: int


class PdqIndex:
    """Exact PDQ range search; ids are caller's integers (media_fingerprints ids from the store)."""

    def __init__(self, *, min_quality: int = MIN_QUALITY, rebuild_threshold: int = REBUILD_THRESHOLD) -> None:
        self.min_quality = min_quality
        self.rebuild_threshold = rebuild_threshold
        self._codes = np.zeros((0, 4), dtype=np.uint64)  # main part, in the tables
        self._ids = np.zeros(0, dtype=np.int64)
        self._perm = np.zeros(0, dtype=np.int32)  # SUBSTRINGS concatenated position lists
        self._pre1 = np.zeros(0, dtype=np.uint64)  # another 64-bit word of each entry, in table order
        self._pre2 = np.zeros(0, dtype=np.uint64)  # and a third one
        self._offsets = np.zeros(SUBSTRINGS * KEYS + 1, dtype=np.int64)
        self._delta = faiss.IndexBinaryFlat(BITS)
        self._delta_ids: list[np.ndarray] = []
        self._delta_codes: list[np.ndarray] = []
        self.max_source_id = 0  # highest store id seen (incremental loading)

    def __len__(self) -> int:
        return len(self._ids) + int(self._delta.ntotal)

    @property
    def memory_bytes(self) -> int:
        """Bytes held by the codes, ids and tables (what grows with the index)."""
        delta = int(self._delta.ntotal) * (BYTES + 8)
        held = (self._codes.nbytes + self._ids.nbytes + self._perm.nbytes + self._pre1.nbytes + self._pre2.nbytes
                + self._offsets.nbytes)
        return int(held) + delta

    # --- adding -------------------------------------------------------------------------------

    def add_codes(self, ids: np.ndarray, codes: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, BYTES)
        if len(ids) != len(codes):
            raise ValueError("ids and codes differ in length")
        if len(ids) == 0:
            return
        self._delta.add(codes)
        self._delta_ids.append(ids)
        self._delta_codes.append(codes)
        if self._delta.ntotal >= self.rebuild_threshold:
            self._rebuild()

    def add(self, ids: Sequence[int], hashes: Sequence[str | None],
            qualities: Sequence[int | None] | None = None) -> int:
        """Add hex hashes; those missing, malformed or below ``min_quality`` are skipped. Returns
        how many were added."""
        keep_ids: list[int] = []
        keep_hex: list[str] = []
        for k, (ident, value) in enumerate(zip(ids, hashes, strict=True)):
            quality = qualities[k] if qualities is not None else None
            if not value or (quality is not None and quality < self.min_quality):
                continue
            try:
                parse_hex(value)
            except InvalidHash:
                continue
            keep_ids.append(int(ident))
            keep_hex.append(value)
        if keep_ids:
            self.add_codes(np.asarray(keep_ids, dtype=np.int64), codes_from_hex(keep_hex))
            self.max_source_id = max(self.max_source_id, max(keep_ids))
        return len(keep_ids)

    def _rebuild(self) -> None:
        if self._delta_codes:
            new_codes = np.concatenate(self._delta_codes).view(np.uint64).reshape(-1, 4)
            self._codes = np.concatenate([self._codes, new_codes])
            self._ids = np.concatenate([self._ids, *self._delta_ids])
        self._delta = faiss.IndexBinaryFlat(BITS)
        self._delta_ids, self._delta_codes = [], []
        n = len(self._ids)
        keys = self._codes.view(np.uint16).reshape(n, SUBSTRINGS)
        perms = []
        pre1, pre2 = [], []
        offsets = np.empty(SUBSTRINGS * KEYS + 1, dtype=np.int64)
        for t in range(SUBSTRINGS):
            column = keys[:, t]
            perm = np.argsort(column, kind="stable").astype(np.int32)
            perms.append(perm)
            word = t // 4  # the 64-bit word holding this substring; prefilter on two others
            pre1.append(self._codes[perm, (word + 1) % 4])
            pre2.append(self._codes[perm, (word + 2) % 4])
            counts = np.bincount(column, minlength=KEYS)
            offsets[t * KEYS:(t + 1) * KEYS] = t * n + np.concatenate([[0], np.cumsum(counts)[:-1]])
        offsets[-1] = SUBSTRINGS * n
        self._perm = np.concatenate(perms) if perms else np.zeros(0, dtype=np.int32)
        self._pre1 = np.concatenate(pre1) if pre1 else np.zeros(0, dtype=np.uint64)
        self._pre2 = np.concatenate(pre2) if pre2 else np.zeros(0, dtype=np.uint64)
        self._offsets = offsets

    # --- searching ----------------------------------------------------------------------------

    def search_codes(self, codes: np.ndarray, radius: int = MATCH_DISTANCE) -> tuple[np.ndarray, ...]:
        """All indexed hashes within ``radius`` of each query: arrays ``(query, id, distance)``."""
        codes = np.ascontiguousarray(codes, dtype=np.uint8).reshape(-1, BYTES)
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if len(self._ids):
            starts = range(0, len(codes), QUERY_BATCH)

            def batch(start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
                q, pos, dist = self._search_tables(codes[start:start + QUERY_BATCH], radius)
                return q + start, self._ids[pos], dist

            if len(starts) > 1 and THREADS > 1:  # numpy releases the GIL in the heavy passes
                with ThreadPoolExecutor(THREADS) as pool:
                    parts.extend(pool.map(batch, starts))
            else:
                parts.extend(batch(start) for start in starts)
        if self._delta.ntotal and len(codes):
            lims, dist, pos = self._delta.range_search(codes, radius + 1)  # faiss: strictly below
            delta_ids = np.concatenate(self._delta_ids)
            q = np.repeat(np.arange(len(codes), dtype=np.int64), np.diff(lims).astype(np.int64))
            parts.append((q, delta_ids[pos], dist.astype(np.int64)))
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), empty.copy()
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))

    def _search_tables(self, codes: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        flips = radius // SUBSTRINGS  # pigeonhole: some substring is within `flips` bits
        masks = [0]
        for k in range(1, flips + 1):
            masks.extend(sum(1 << b for b in combo) for combo in combinations(range(16), k))
        mask_arr = np.asarray(masks, dtype=np.int64)
        n_q = len(codes)
        q64 = codes.view(np.uint64).reshape(n_q, 4)
        q16 = codes.view(np.uint16).reshape(n_q, SUBSTRINGS).astype(np.int64)
        probe = (q16[:, :, None] ^ mask_arr[None, None, :]) + (np.arange(SUBSTRINGS) * KEYS)[None, :, None]
        probe = probe.reshape(-1)
        # Per probe (cheap): the bucket, its query, and the query's words used by the prefilter.
        probes_per_query = SUBSTRINGS * len(masks)
        word = np.repeat(np.arange(SUBSTRINGS) // 4, len(masks))  # word holding each probe's substring
        probe_q = np.repeat(np.arange(n_q, dtype=np.int64), probes_per_query)
        probe_w1 = q64[probe_q, np.tile((word + 1) % 4, n_q)]
        probe_w2 = q64[probe_q, np.tile((word + 2) % 4, n_q)]
        begin = self._offsets[probe]
        lengths = self._offsets[probe + 1] - begin
        nonempty = lengths > 0
        begin, lengths = begin[nonempty], lengths[nonempty]
        probe_q, probe_w1, probe_w2 = probe_q[nonempty], probe_w1[nonempty], probe_w2[nonempty]
        total = int(lengths.sum())
        ends = np.cumsum(lengths)
        # Per candidate, as few passes as possible: candidates of a bucket are contiguous in table
        # order, and two other 64-bit words stored in that order give a lower bound of the distance
        # that rejects almost every non-match before any random access to the full codes.
        flat = np.repeat((begin - (ends - lengths)).astype(np.int32), lengths)
        flat += np.arange(total, dtype=np.int32)
        partial = np.bitwise_count(np.take(self._pre1, flat) ^ np.repeat(probe_w1, lengths))
        keep = np.flatnonzero(partial <= radius)
        which = np.searchsorted(ends, keep, side="right")  # the probe each survivor came from
        flat, partial = flat[keep], partial[keep]
        partial += np.bitwise_count(np.take(self._pre2, flat) ^ np.take(probe_w2, which))
        keep = np.flatnonzero(partial <= radius)
        flat, which = flat[keep], which[keep]
        qid = probe_q[which]
        cand = self._perm[flat].astype(np.int64)
        dist = _popcount_rows(self._codes[cand] ^ q64[qid])
        hit = dist <= radius
        qid, cand, dist = qid[hit], cand[hit], dist[hit]
        # A close pair shows up in several tables: keep one.
        key = qid * len(self._ids) + cand
        _, first = np.unique(key, return_index=True)
        return qid[first], cand[first], dist[first]

    def search(self, hashes: Sequence[str | None], *, qualities: Sequence[int | None] | None = None,
               radius: int = MATCH_DISTANCE, dihedral: bool = False) -> list[PdqMatch]:
        """Matches of hex hashes (skipping missing, malformed and low-quality ones). With
        ``dihedral`` each query also matches mirrored/rotated copies (closest variant wins)."""
        positions: list[int] = []
        valid: list[str] = []
        for k, value in enumerate(hashes):
            quality = qualities[k] if qualities is not None else None
            if not value or (quality is not None and quality < self.min_quality):
                continue
            try:
                parse_hex(value)
            except InvalidHash:
                continue
            positions.append(k)
            valid.append(value)
        if not valid:
            return []
        q, ids, dist = self.nearest_codes(codes_from_hex(valid), radius=radius, dihedral=dihedral)
        return [PdqMatch(positions[qi], ident, d) for qi, ident, d in zip(q.tolist(), ids.tolist(), dist.tolist(),
                                                                          strict=True)]

    def nearest_codes(self, codes: np.ndarray, *, radius: int = MATCH_DISTANCE,
                      dihedral: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Matches of (n, 32) uint8 codes as arrays (query position, id, distance), one per query and id,
        sorted by query then id. With ``dihedral`` each query also matches mirrored/rotated copies (the
        closest variant wins)."""
        if dihedral:
            q, ids, dist = self.search_codes(dihedral_codes(np.asarray(codes, dtype=np.uint8)).reshape(-1, BYTES),
                                             radius)
            q = q // 8
        else:
            q, ids, dist = self.search_codes(codes, radius)
        order = np.lexsort((dist, ids, q))  # per (query, id) the closest first
        q, ids, dist = q[order], ids[order], dist[order]
        first = np.ones(len(q), dtype=bool)
        first[1:] = (q[1:] != q[:-1]) | (ids[1:] != ids[:-1])
        return q[first], ids[first], dist[first]

    # --- the store ----------------------------------------------------------------------------

    def update_from_store(self, session: Session, *, batch: int = 50_000) -> int:
        """Add image fingerprints stored since the last call (by id). Returns how many were added."""
        added = 0
        while True:
            rows = session.execute(
                select(m.MediaFingerprint.id, m.MediaFingerprint.pdq, m.MediaFingerprint.pdq_quality)
                .where(m.MediaFingerprint.id > self.max_source_id, m.MediaFingerprint.pdq.is_not(None))
                .order_by(m.MediaFingerprint.id)
                .limit(batch)
            ).all()
            if not rows:
                return added
            added += self.add([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
            self.max_source_id = max(self.max_source_id, int(rows[-1][0]))

    @classmethod
    def from_store(cls, session: Session, *, min_quality: int = MIN_QUALITY) -> PdqIndex:
        index = cls(min_quality=min_quality)
        index.update_from_store(session)
        index.flush()
        return index

    def flush(self) -> None:
        """Merge pending additions into the tables now (after a bulk load)."""
        if self._delta.ntotal:
            self._rebuild()
