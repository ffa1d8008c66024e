"""Subgraphs the analyst asks for: by case, platform, time window, weight, edge types, ego network.

Pure functions over the built graph; they return new graphs that keep the original (sorted) order,
so filtered exports stay deterministic. Filters apply in a fixed order — nodes (case, platform,
time), then edges (time, types, weight), then the ego network — so ``--around X --edge-types
migration`` is X's neighbourhood *through migration edges*. Member nodes left without an edge to a
remaining community are dropped; community nodes are kept even when isolated (a community that went
dark with no known successor is itself a finding), except outside an ego network.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import networkx as nx

from graph.schema import EdgeType, parse_iso
from model.errors import UsageError


@dataclass(frozen=True)
class GraphFilter:
    case: str | None = None
    platforms: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    min_weight: float | None = None
    edge_types: tuple[str, ...] = ()
    around: str | None = None
    depth: int = 1

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for the audit log."""
        out: dict[str, Any] = {}
        for name in ("case", "platforms", "since", "until", "min_weight", "edge_types", "around"):
            value = getattr(self, name)
            if value:
                out[name] = value.isoformat() if isinstance(value, datetime) else (
                    list(value) if isinstance(value, tuple) else value)
        if self.around:
            out["depth"] = self.depth
        return out


def parse_edge_types(values: Iterable[str]) -> tuple[str, ...]:
    known = {str(t) for t in EdgeType}
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower().replace("-", "_")
            if not name:
                continue
            if name not in known:
                raise UsageError(f"--edge-types: unknown edge type {part.strip()!r}; known: {', '.join(sorted(known))}")
            if name not in out:
                out.append(name)
    return tuple(out)


def _interval(data: dict[str, Any]) -> tuple[datetime | None, datetime | None]:
    """A node's or edge's time span for the window filters. A community that is not gone is
    open-ended here (it still exists, whenever its last post was); its exported ``end`` is its last
    post, for Gephi's timeline."""
    start = parse_iso(data["start"]) if data.get("start") else None
    if data.get("node_type") == "community" and not data.get("gone"):
        return start, None
    end_text = data.get("end") or data.get("last_at")
    return start, parse_iso(end_text) if end_text else None


def _overlaps(data: dict[str, Any], since: datetime | None, until: datetime | None) -> bool:
    """Does ``[start, end or last_at or ∞)`` meet ``[since, until]``?"""
    start, end = _interval(data)
    if until is not None and start is not None and start > until:
        return False
    return not (since is not None and end is not None and end < since)


def _copy(g: nx.MultiDiGraph, nodes: set[str], edges: Iterable[tuple[str, str, str, dict[str, Any]]]
          ) -> nx.MultiDiGraph:
    out: nx.MultiDiGraph = nx.MultiDiGraph()
    out.graph.update(g.graph)
    out.add_nodes_from((n, dict(d)) for n, d in g.nodes(data=True) if n in nodes)
    out.add_edges_from((u, v, k, dict(d)) for u, v, k, d in edges if u in nodes and v in nodes)
    return out


def _drop_lonely_members(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    lonely = [n for n, d in g.nodes(data=True) if d.get("node_type") == "member" and g.degree(n) == 0]
    g.remove_nodes_from(lonely)
    return g


def resolve_node(g: nx.MultiDiGraph, ref: str) -> str:
    """The community node an ``--around`` value names: a node id (``c12``), a community id (``12``,
    ``#12``), ``platform:handle``, or a handle (``@name``/``name``; current or former, any platform)."""
    text = ref.strip()
    if text in g and g.nodes[text].get("node_type") == "community":
        return text
    digits = text.lstrip("#")
    if digits.isdigit() and f"c{digits}" in g:
        return f"c{digits}"
    platform = None
    if ":" in text and not text.startswith(("http://", "https://")):
        platform, text = text.split(":", 1)
        platform = platform.lower()
    handle = text.lstrip("@").lower()
    matches: list[str] = []
    for n, d in g.nodes(data=True):
        if d.get("node_type") != "community" or (platform and d.get("platform") != platform):
            continue
        if (d.get("handle") or "").lower() == handle:
            matches.append(n)
    if not matches:  # a former handle (rename self-loops remember it)
        for u, _v, d in g.edges(data=True):
            if d.get("edge_type") == EdgeType.RENAME and (d.get("old_handle") or "").lower() == handle and (
                    not platform or g.nodes[u].get("platform") == platform):
                matches.append(u)
    matches = sorted(set(matches))
    if not matches:
        raise UsageError(f"--around {ref!r}: no community with that id or handle in the graph")
    if len(matches) > 1:
        options = ", ".join(f"{g.nodes[n]['platform']}:{g.nodes[n].get('handle')} ({n})" for n in matches)
        raise UsageError(f"--around {ref!r} is ambiguous: {options}; write platform:handle or the id")
    return matches[0]


def ego_nodes(g: nx.MultiDiGraph, centre: str, depth: int) -> set[str]:
    """Nodes within ``depth`` hops of ``centre``, following edges in either direction."""
    seen = {centre}
    frontier = deque([(centre, 0)])
    while frontier:
        node, dist = frontier.popleft()
        if dist >= depth:
            continue
        for nbr in list(g.successors(node)) + list(g.predecessors(node)):
            if nbr not in seen:
                seen.add(nbr)
                frontier.append((nbr, dist + 1))
    return seen


def apply_filters(g: nx.MultiDiGraph, f: GraphFilter) -> nx.MultiDiGraph:
    if f.depth < 0:
        raise UsageError("--depth must be 0 or more")
    if f.since and f.until and f.since > f.until:
        raise UsageError("--since is after --until")
    platforms = {p.lower() for p in f.platforms}

    def keep_community(d: dict[str, Any]) -> bool:
        if f.case is not None and d.get("case") != f.case:
            return False
        if platforms and d.get("platform") not in platforms:
            return False
        return _overlaps(d, f.since, f.until)

    nodes = {n for n, d in g.nodes(data=True) if d.get("node_type") != "community" or keep_community(d)}
    types = set(f.edge_types)
    edges = [
        (u, v, k, d) for u, v, k, d in g.edges(keys=True, data=True)
        if (not types or d.get("edge_type") in types)
        and (f.min_weight is None or float(d.get("weight", 0.0)) >= f.min_weight)
        and _overlaps(d, f.since, f.until)
    ]
    out = _drop_lonely_members(_copy(g, nodes, edges))
    if f.around is not None:
        centre = resolve_node(g, f.around)
        if centre not in out:
            raise UsageError(f"--around {f.around!r}: that community is excluded by the other filters")
        out = _drop_lonely_members(_copy(out, ego_nodes(out, centre, f.depth), out.edges(keys=True, data=True)))
    return out
