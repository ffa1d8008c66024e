"""Filters, ego networks and metrics on the fictional sample graph."""

from __future__ import annotations

from datetime import UTC, datetime

import networkx as nx
import pytest

from graph.builder import build_graph
from graph.filters import GraphFilter, apply_filters, parse_edge_types, resolve_node
from graph.metrics import add_metrics
from graph.sample import sample_graph_data
from model.errors import UsageError


@pytest.fixture
def g() -> nx.MultiDiGraph:
    return build_graph(sample_graph_data(members=True))


def _communities(h: nx.MultiDiGraph) -> set[str]:
    return {n for n, d in h.nodes(data=True) if d["node_type"] == "community"}


def _types(h: nx.MultiDiGraph) -> set[str]:
    return {d["edge_type"] for _, _, d in h.edges(data=True)}


def test_case_filter_keeps_the_case_and_its_members(g: nx.MultiDiGraph) -> None:
    h = apply_filters(g, GraphFilter(case="op-cortile"))
    assert _communities(h) == {"c1", "c2", "c3"}
    assert "migration:c2>c5" not in {k for _, _, k in h.edges(keys=True)}
    # The member also seen in c5 stays (still in c1 and c2); nothing points at c5 any more.
    assert all(v != "c5" for _, v in h.edges())


def test_platform_filter(g: nx.MultiDiGraph) -> None:
    h = apply_filters(g, GraphFilter(platforms=("reddit", "discourse")))
    assert _communities(h) == {"c3", "c4"}
    assert h.number_of_edges() == 0 and not [n for n, d in h.nodes(data=True) if d["node_type"] == "member"]


def test_time_window(g: nx.MultiDiGraph) -> None:
    before = apply_filters(g, GraphFilter(until=datetime(2026, 3, 5, tzinfo=UTC)))
    assert _communities(before) == {"c1", "c3", "c4"}  # c2 and c5 did not exist yet
    after = apply_filters(g, GraphFilter(since=datetime(2026, 3, 12, tzinfo=UTC)))
    assert _communities(after) == {"c2", "c4", "c5"}  # c1 and c3 had gone dark
    assert "links:c3>c1" not in {k for _, _, k in after.edges(keys=True)}


def test_edge_types_and_min_weight(g: nx.MultiDiGraph) -> None:
    h = apply_filters(g, GraphFilter(edge_types=("migration",)))
    assert _types(h) == {"migration"} and h.number_of_edges() == 3
    assert _communities(h) == _communities(g)  # isolated communities stay
    heavy = apply_filters(g, GraphFilter(min_weight=10))
    assert {k for _, _, k in heavy.edges(keys=True)} == {
        "shared_members:c1>c2", "reposted_content:c1>c2", "forwards:c1>c2", "shared_members:c1>c3"}


def test_ego_network(g: nx.MultiDiGraph) -> None:
    one = apply_filters(g, GraphFilter(around="cortile_riserva", depth=1))
    assert _communities(one) == {"c1", "c2", "c5"}
    two = apply_filters(g, GraphFilter(around="@cortile_riserva", depth=2))
    assert _communities(two) == {"c1", "c2", "c3", "c5"}  # c4 is not connected
    zero = apply_filters(g, GraphFilter(around="c2", depth=0))
    assert list(zero.nodes) == ["c2"] and _types(zero) == {"rename"}
    via_migration = apply_filters(g, GraphFilter(around="cortilesegreto", depth=5, edge_types=("migration",)))
    assert _communities(via_migration) == {"c1", "c2", "c3", "c5"}
    only_links = apply_filters(g, GraphFilter(around="reddit:cortilesegreto", depth=5, edge_types=("links",)))
    assert _communities(only_links) == {"c1", "c2", "c3"}


def test_around_resolves_ids_former_handles_and_reports_problems(g: nx.MultiDiGraph) -> None:
    assert resolve_node(g, "2") == resolve_node(g, "#2") == resolve_node(g, "cortile_backup") == "c2"
    assert resolve_node(g, "telegram:CORTILE_SEGRETO") == "c1"
    with pytest.raises(UsageError, match="no community"):
        resolve_node(g, "nobody_here")
    g.nodes["c4"]["handle"] = "cortile_riserva"  # same handle on two platforms
    with pytest.raises(UsageError, match="ambiguous"):
        resolve_node(g, "cortile_riserva")
    with pytest.raises(UsageError, match="excluded by the other filters"):
        apply_filters(g, GraphFilter(around="c4", platforms=("telegram",)))


def test_bad_filter_values() -> None:
    assert parse_edge_types(["migration,shared-members", "migration"]) == ("migration", "shared_members")
    with pytest.raises(UsageError, match="unknown edge type 'follows'"):
        parse_edge_types(["follows"])
    with pytest.raises(UsageError, match="--since is after --until"):
        apply_filters(nx.MultiDiGraph(), GraphFilter(since=datetime(2026, 2, 1, tzinfo=UTC),
                                                     until=datetime(2026, 1, 1, tzinfo=UTC)))


def test_metrics(g: nx.MultiDiGraph) -> None:
    add_metrics(g)
    c1, c2, c4 = g.nodes["c1"], g.nodes["c2"], g.nodes["c4"]
    # c1: 5 edges to c2, 1 shared with c3, 2 from c3, 2 member_of in → 10 relations.
    assert (c1["degree"], c1["out_degree"], c1["in_degree"]) == (10, 6, 4)
    assert c1["weighted_degree"] == pytest.approx(120 + 35 + 14 + 4 + 0.91 + 15 + 2 + 0.55 + 2)
    assert c2["degree"] == 9  # the rename self-loop does not count
    assert c4["degree"] == 0 and c4["betweenness"] == 0.0
    # c1 and c2 bridge c3 and c5 to the rest.
    assert c1["betweenness"] > 0 and c2["betweenness"] > 0 and g.nodes["c5"]["betweenness"] == 0
    assert c1["cluster"] == c2["cluster"] == g.nodes["c3"]["cluster"] == 0  # largest cluster first
    assert c4["cluster"] != c1["cluster"]
    assert "betweenness" not in g.nodes["m00aa11bb22cc33dd"]


def test_metrics_are_repeatable_and_sampled_on_large_graphs() -> None:
    from graph.sample import synthetic_graph_data

    runs = []
    for _ in range(2):
        h = add_metrics(build_graph(synthetic_graph_data(300, 1500)), exact_limit=100, samples=20)
        runs.append({n: (d["betweenness"], d["cluster"]) for n, d in h.nodes(data=True)})
    assert runs[0] == runs[1]
    assert len({c for _, c in runs[0].values()}) > 1
