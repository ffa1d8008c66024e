"""Graph export at scale: our streamed GEXF 1.3 and CSV against networkx's in-memory GEXF writer.

    .venv/bin/python bench/graph_export.py            # 10,000 nodes, ~1,000,000 edges
    .venv/bin/python bench/graph_export.py --quick    # 2,000 nodes, ~100,000 edges

Each export runs in a forked child so its peak memory can be read on its own: the figure printed
is the child's peak RSS above the parent's RSS at the fork (the graph itself is shared).
Prints time and extra memory per writer, and ratios against networkx.write_gexf (the baseline).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import networkx as nx

from graph.builder import build_graph
from graph.export_gexf import write_gexf
from graph.export_tabular import write_csv, write_json
from graph.sample import synthetic_graph_data


def _rss_kib() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def measure(fn: Callable[[], None]) -> tuple[float, float]:
    """(seconds, extra peak MiB) of ``fn`` run in a forked child."""
    base = _rss_kib()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        os.write(w, f"{elapsed} {peak}".encode())
        os._exit(0)
    os.close(w)
    out = os.read(r, 200).decode()
    os.waitpid(pid, 0)
    elapsed, peak = out.split()
    return float(elapsed), max(0, int(peak) - base) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--nodes", type=int)
    parser.add_argument("--edges", type=int)
    args = parser.parse_args()
    nodes = args.nodes or (2000 if args.quick else 10_000)
    edges = args.edges or (100_000 if args.quick else 1_000_000)
    t = time.perf_counter()
    g = build_graph(synthetic_graph_data(nodes, edges))
    print(f"built {g.number_of_nodes()} nodes, {g.number_of_edges()} edges in {time.perf_counter() - t:.1f}s")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        results = {
            "networkx write_gexf (baseline)": measure(lambda: nx.write_gexf(g, d / "nx.gexf")),
            "resurface GEXF 1.3 (streamed)": measure(lambda: write_gexf(g, d / "ours.gexf")),
            "resurface CSV (streamed)": measure(lambda: write_csv(g, d / "ours")),
            "resurface JSON (streamed)": measure(lambda: write_json(g, d / "ours.json")),
        }
    base_t, base_m = results["networkx write_gexf (baseline)"]
    print(f"{'writer':34} {'seconds':>8} {'extra MiB':>10} {'time ratio':>11} {'memory ratio':>13}")
    for name, (secs, mib) in results.items():
        print(f"{name:34} {secs:8.1f} {mib:10.0f} {secs / base_t:11.2f} {mib / max(base_m, 1e-9):13.3f}")


if __name__ == "__main__":
    main()
