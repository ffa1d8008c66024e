"""Node selection and positions for the drawn exports (PNG, SVG, HTML).

A drawing of ten thousand nodes is unreadable and slow to lay out, so drawn exports keep the
``max_nodes`` best-connected nodes (communities before member nodes, then most relations, then id)
and say how many were left out. Positions come from a seeded Fruchterman–Reingold layout of the
undirected projection, rounded so that the same data gives the same picture.
"""

from __future__ import annotations

import math
from collections import Counter

import networkx as nx

from graph.metrics import SEED


def select_nodes(g: nx.MultiDiGraph, max_nodes: int) -> list[str]:
    if g.number_of_nodes() <= max_nodes:
        return list(g.nodes)
    relations: Counter[str] = Counter()
    for u, v in g.edges():
        if u != v:
            relations[u] += 1
            relations[v] += 1
    ranked = sorted(g.nodes(data=True), key=lambda nd: (nd[1].get("node_type") != "community",
                                                        -relations[nd[0]], nd[0]))
    keep = {n for n, _ in ranked[:max_nodes]}
    return [n for n in g.nodes if n in keep]


def drawn_subgraph(g: nx.MultiDiGraph, max_nodes: int) -> nx.MultiDiGraph:
    nodes = select_nodes(g, max_nodes)
    keep = set(nodes)
    out: nx.MultiDiGraph = nx.MultiDiGraph()
    out.add_nodes_from((n, g.nodes[n]) for n in nodes)
    out.add_edges_from((u, v, k, d) for u, v, k, d in g.edges(keys=True, data=True) if u in keep and v in keep)
    return out


def positions(g: nx.MultiDiGraph, seed: int = SEED) -> dict[str, tuple[float, float]]:
    """Positions in [-1, 1]², rounded to 4 decimals.

    Each connected component is laid out on its own and the components are packed in rows, largest
    first: a force layout of the whole graph pushes isolated communities to the far edges and
    squeezes everything else into a corner.
    """
    if g.number_of_nodes() == 0:
        return {}
    p: nx.Graph = nx.Graph()
    p.add_nodes_from(g.nodes)
    p.add_edges_from((u, v) for u, v in g.edges() if u != v)
    components = sorted((sorted(c) for c in nx.connected_components(p)), key=lambda c: (-len(c), c[0]))
    placed: dict[str, tuple[float, float]] = {}
    row_width = max(1.0, math.sqrt(sum(_box(len(c)) ** 2 for c in components)) * 1.2)
    x = y = row_height = 0.0
    for comp in components:
        box = _box(len(comp))
        if x > 0 and x + box > row_width:
            x, y, row_height = 0.0, y + row_height, 0.0
        if len(comp) == 1:
            local = {comp[0]: (0.0, 0.0)}
        else:
            local = nx.spring_layout(p.subgraph(comp), seed=seed, iterations=60, center=(0, 0), scale=1.0)
        for n, (lx, ly) in local.items():
            placed[n] = (x + box / 2 + float(lx) * box * 0.45, -(y + box / 2) + float(ly) * box * 0.45)
        x += box
        row_height = max(row_height, box)
    xs = [v[0] for v in placed.values()]
    ys = [v[1] for v in placed.values()]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    half = max(max(xs) - min(xs), max(ys) - min(ys), 1e-9) / 2
    return {n: (round((px - cx) / half, 4), round((py - cy) / half, 4)) for n, (px, py) in placed.items()}


def _box(size: int) -> float:
    """Side of the square a component of ``size`` nodes gets (area grows with its size)."""
    return 0.35 + math.sqrt(size)
