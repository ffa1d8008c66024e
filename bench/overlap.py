"""Shared members for all pairs of communities: sparse X·Xᵀ (detect.overlap) vs networkx.

Main run: 10,000 communities, 2,000,000 memberships, skewed (Zipf-like) community sizes and member
activity. Prints seconds and peak memory. Baseline: networkx.bipartite.weighted_projected_graph on
a size networkx finishes within a minute (1,000 communities × 200,000 memberships by default),
with our code timed on the very same data in the same run; the ratio is printed.

    .venv/bin/python bench/overlap.py            # full size
    .venv/bin/python bench/overlap.py --quick    # 2,000 × 200,000 main run, 300 × 30,000 baseline
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import networkx as nx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detect.overlap import incidence, pair_metrics, shared_pairs


def memberships(rng: np.random.Generator, communities: int, total: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Skewed data: community sizes ~ Zipf(1.1) (a few huge, many small), members drawn with a
    power-law activity so some belong to many communities."""
    weights = 1.0 / np.arange(1, communities + 1) ** 1.1
    sizes = np.maximum(1, np.round(weights / weights.sum() * total)).astype(np.int64)
    members = max(1000, total // 4)
    activity = 1.0 / np.arange(1, members + 1) ** 0.6
    activity /= activity.sum()
    rows = np.repeat(np.arange(communities), sizes)
    cols = rng.choice(members, size=len(rows), p=activity)
    return rows, cols, members


def ours(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> tuple[float, int]:
    start = time.perf_counter()
    x = incidence(rows, cols, n_rows, n_cols)
    i, j, shared = shared_pairs(x)
    sizes = np.asarray(x.sum(axis=1)).ravel()
    pair_metrics(shared, sizes[i], sizes[j], np.full(len(i), n_cols))
    return time.perf_counter() - start, len(i)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--communities", type=int, default=10_000)
    parser.add_argument("--memberships", type=int, default=2_000_000)
    parser.add_argument("--baseline-communities", type=int, default=1_000)
    parser.add_argument("--baseline-memberships", type=int, default=200_000)
    args = parser.parse_args()
    if args.quick:
        args.communities, args.memberships = 2_000, 200_000
        args.baseline_communities, args.baseline_memberships = 300, 30_000
    rng = np.random.default_rng(2026)

    rows, cols, members = memberships(rng, args.communities, args.memberships)
    tracemalloc.start()
    seconds, pairs = ours(rows, cols, args.communities, members)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"main: {args.communities:,} communities, {len(rows):,} memberships, {members:,} members -> "
          f"{pairs:,} pairs sharing ≥1 member (with overlap, Jaccard, significance) in {seconds:.2f} s; "
          f"peak traced memory {peak / 2**20:.0f} MiB; "
          f"max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    print(f"target ≤ 30 s: {'met' if seconds <= 30 else 'NOT met'}")

    b_rows, b_cols, b_members = memberships(rng, args.baseline_communities, args.baseline_memberships)
    ours_seconds, ours_pairs = ours(b_rows, b_cols, args.baseline_communities, b_members)
    graph = nx.Graph()
    graph.add_nodes_from((f"c{c}" for c in range(args.baseline_communities)), bipartite=0)
    graph.add_edges_from(zip((f"c{c}" for c in b_rows), (f"m{u}" for u in b_cols), strict=True))
    start = time.perf_counter()
    projected = nx.bipartite.weighted_projected_graph(graph, [f"c{c}" for c in range(args.baseline_communities)])
    nx_seconds = time.perf_counter() - start
    assert projected.number_of_edges() == ours_pairs, (projected.number_of_edges(), ours_pairs)
    print(f"baseline: {args.baseline_communities:,} communities, {len(b_rows):,} memberships: "
          f"networkx weighted_projected_graph {nx_seconds:.2f} s, ours {ours_seconds:.3f} s "
          f"(same {ours_pairs:,} pairs) -> ratio {nx_seconds / ours_seconds:.0f}x (target ≥ 50x)")


if __name__ == "__main__":
    main()
