"""The graph pipeline shared by ``resurface graph`` and the demo: load what detection stored, build,
filter, then compute metrics."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from graph.filters import GraphFilter, apply_filters
from graph.queries import PairStatistics
from store.db import Store


@dataclass(frozen=True)
class BuildOptions:
    members: bool = False
    min_shared: int = 1
    metrics: bool = True


def build_filtered_graph(store: Store, flt: GraphFilter, opts: BuildOptions,
                         pair_stats: PairStatistics | None = None) -> nx.MultiDiGraph:
    """Load, build, filter, then compute metrics (on what is left, so they describe the export)."""
    from graph.builder import build_graph
    from graph.metrics import add_metrics
    from graph.queries import load_graph_data

    with store.session() as session:
        data = load_graph_data(session, members=opts.members, min_shared=opts.min_shared, pair_stats=pair_stats)
    g = apply_filters(build_graph(data), flt)
    if opts.metrics:
        add_metrics(g)
    return g
