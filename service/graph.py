"""The graph as the CLI and the demo export it: the graph layer's pipeline, given detection's pair
statistics (shared members, reposted content), which the graph does not compute itself."""

from __future__ import annotations

from collections.abc import Collection

import networkx as nx
from sqlalchemy.orm import Session

from detect.content import content_overlaps
from detect.overlap import member_overlaps
from graph import queries
from graph.filters import GraphFilter
from graph.pipeline import BuildOptions, build_filtered_graph
from graph.queries import GraphData, PairStatistics, RepostedContent, SharedMembers
from store.db import Store


def _shared_members(session: Session, community_ids: Collection[int] | None, min_shared: int) -> list[SharedMembers]:
    pairs = member_overlaps(session, community_ids, min_shared=min_shared)
    return [SharedMembers(p.a, p.b, p.shared, p.overlap_coefficient, p.jaccard, p.significance)
            for _, p in sorted(pairs.items())]


def _reposted(session: Session, community_ids: Collection[int] | None) -> list[RepostedContent]:
    pairs = content_overlaps(session, community_ids)
    # Only counts leave this function: the overlaps' examples may quote post text.
    return [RepostedContent(c.source, c.target, c.media_matches, c.text_matches, c.forwards)
            for _, c in sorted(pairs.items())]


PAIR_STATISTICS = PairStatistics(shared_members=_shared_members, reposted=_reposted)


def load_graph_data(session: Session, *, members: bool = False, min_shared: int = 1,
                    community_ids: Collection[int] | None = None) -> GraphData:
    return queries.load_graph_data(session, members=members, min_shared=min_shared, community_ids=community_ids,
                                   pair_stats=PAIR_STATISTICS)


def export_graph_of(store: Store, flt: GraphFilter, opts: BuildOptions) -> nx.MultiDiGraph:
    """Load, build, filter and measure the graph with detection's pair statistics."""
    return build_filtered_graph(store, flt, opts, pair_stats=PAIR_STATISTICS)
