"""PDQ range search at scale: our multi-index hash (detect.pdq_index) vs faiss baselines.

1,000,000 random 256-bit hashes are indexed; 10,000 queries are copies of indexed hashes with 0-31
bits flipped (planted near matches). Prints queries/s, index memory, and recall against the exact
answer of a faiss flat scan (must be 100%), plus the speed ratio to faiss IndexBinaryFlat and to
faiss IndexBinaryMultiHash (16 tables × 16 bits, nflip=1, the exact setting at radius 31), both
measured in the same run on a sample of the queries.

    .venv/bin/python bench/pdq.py            # full size
    .venv/bin/python bench/pdq.py --quick    # 100,000 hashes, 2,000 queries
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detect.pdq_index import PdqIndex

RADIUS = 31


def planted(rng: np.random.Generator, db: np.ndarray, n_queries: int) -> np.ndarray:
    picks = rng.integers(0, len(db), n_queries)
    bits = np.unpackbits(db[picks], axis=1)
    for row in range(n_queries):
        flips = rng.choice(256, int(rng.integers(0, RADIUS + 1)), replace=False)
        bits[row, flips] ^= 1
    return np.packbits(bits, axis=1)


def as_set(q: np.ndarray, ids: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(q.tolist(), ids.tolist(), strict=True))


def faiss_pairs(index: faiss.IndexBinary, queries: np.ndarray) -> tuple[set[tuple[int, int]], float]:
    start = time.perf_counter()
    lims, _dist, ids = index.range_search(queries, RADIUS + 1)  # faiss: strictly below the radius
    seconds = time.perf_counter() - start
    q = np.repeat(np.arange(len(queries)), np.diff(lims).astype(np.int64))
    return as_set(q, ids.astype(np.int64)), seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--baseline-queries", type=int, default=1_000, help="queries timed on the faiss baselines")
    args = parser.parse_args()
    size, n_queries = (100_000, 2_000) if args.quick else (args.size, args.queries)
    rng = np.random.default_rng(2026)
    db = rng.integers(0, 256, (size, 32), dtype=np.uint8)
    queries = planted(rng, db, n_queries)
    print(f"{size:,} hashes, {n_queries:,} queries with planted matches at Hamming ≤ {RADIUS}; "
          f"faiss threads: {faiss.omp_get_max_threads()}")

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    index = PdqIndex()
    index.add_codes(np.arange(size), db)
    index.flush()
    build = time.perf_counter() - start
    start = time.perf_counter()
    q, ids, _dist = index.search_codes(queries, RADIUS)
    search = time.perf_counter() - start
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ours = as_set(q, ids)
    qps = n_queries / search
    print(f"multi-index hash: build {build:.2f} s, search {search:.2f} s = {qps:,.0f} queries/s, "
          f"index memory {index.memory_bytes / 2**20:.1f} MiB (raw codes {db.nbytes / 2**20:.1f} MiB), "
          f"peak RSS growth during build+search {(rss_after - rss_before) / 1024:.0f} MiB")

    flat = faiss.IndexBinaryFlat(256)
    flat.add(db)
    exact, flat_seconds = faiss_pairs(flat, queries)
    recall = len(ours & exact) / len(exact)
    print(f"recall vs exact flat scan: {recall:.4%} ({len(ours & exact):,}/{len(exact):,} pairs; "
          f"{len(ours - exact)} extra)")
    flat_qps = n_queries / flat_seconds
    print(f"faiss IndexBinaryFlat: {flat_qps:,.0f} queries/s -> ratio {qps / flat_qps:.1f}x")

    sample = queries[: args.baseline_queries]
    multi = faiss.IndexBinaryMultiHash(256, 16, 16)
    multi.nflip = 1
    multi.add(db)
    multi_pairs, multi_seconds = faiss_pairs(multi, sample)
    multi_qps = len(sample) / multi_seconds
    sample_exact = {(a, b) for a, b in exact if a < len(sample)}
    print(f"faiss IndexBinaryMultiHash(16x16, nflip=1): {multi_qps:,.0f} queries/s on {len(sample):,} queries "
          f"(recall {len(multi_pairs & sample_exact) / max(1, len(sample_exact)):.2%}) -> ratio {qps / multi_qps:.1f}x")
    ok = recall == 1.0 and not (ours - exact)
    print(f"target ≥ 4,000 queries/s and 100% recall: {'met' if ok and qps >= 4000 else 'NOT met'}")


if __name__ == "__main__":
    main()
