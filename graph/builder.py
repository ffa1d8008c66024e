"""Build the community graph from :class:`graph.queries.GraphData` (pure: no store, no I/O).

The graph is a ``networkx.MultiDiGraph`` because two communities are often related in several ways
at once (shared members *and* forwards *and* a migration candidate) and each relation keeps its own
attributes; a DiGraph would have to merge them. Every edge carries ``edge_type`` (see
:class:`graph.schema.EdgeType`) and a ``weight`` whose meaning depends on the type:

==================  =========================================  ==================================
edge_type           direction                                  weight
==================  =========================================  ==================================
shared_members      symmetric; stored once, lower id → higher  shared member count
reposted_content    content first seen in source → target      media + text matches
forwards            forwarded-from community → forwarding one  forwarded posts
links               linking community → linked community       mentions + announcements
migration           source (old) → target (successor)          detector score (0–1)
rename              self-loop on the renamed community         1
member_of           pseudonymous member → community            1
==================  =========================================  ==================================

Edge keys are unique in the whole graph (``"<edge_type>:<u>><v>"``, renames ``"rename:<u>:<n>"``),
so they double as edge ids in GEXF/GraphML. Nodes are ``"c<community id>"`` and, only when member
nodes are asked for, ``"m<hash>"``. Insertion order is sorted, which makes every export of the same
data byte-identical.

Time: a community lives from its first post to its last (the posts' own dates; first/last seen only
when it has no dated posts), starting earlier if its creation on the platform is known and earlier,
and ending at its shutdown when its status is gone (removal entered by hand, else the stored shutdown
event, else the first unreadable snapshot). An edge's ``start`` is its first evidence if the data has
a time, else the moment both its communities existed. Gephi's timeline uses these to replay a
migration. Every date also gets a typed ``<date>_unix`` twin (:func:`graph.schema.with_unix_times`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import networkx as nx

from graph.queries import CommunityInfo, EventInfo, GraphData
from graph.schema import EdgeType, iso, with_unix_times
from model.records import GONE_STATUSES


def community_node(cid: int) -> str:
    return f"c{cid}"


def edge_key(edge_type: str, u: str, v: str) -> str:
    return f"{edge_type}:{u}>{v}"


def _lifetime(c: CommunityInfo, events: list[EventInfo]) -> tuple[datetime, datetime]:
    """From the community's first post to its last, or to its shutdown when it is gone.

    Post dates are the community's own history; crawl times (first/last seen) only say when we
    looked, and are the fallback for a community with no dated posts. The start is moved back to the
    creation on the platform when that is known and earlier. A gone community ends at its removal
    date entered by hand, else the detector's stored shutdown event, else the first snapshot that
    found it gone, else its last post.
    """
    start = c.first_post or c.first_seen
    if c.created_at_platform is not None and c.created_at_platform < start:
        start = c.created_at_platform
    end = c.last_post or c.last_seen
    if c.status in GONE_STATUSES:
        shutdowns = [e.occurred_at for e in events if e.kind == "shutdown"]
        end = c.removed_at or (min(shutdowns) if shutdowns else None) or c.gone_at or end
    if end < start:
        end = start
    return start, end


def _label(c: CommunityInfo) -> str:
    return c.title or (f"@{c.handle}" if c.handle else f"{c.platform} #{c.id}")


def _community_attrs(c: CommunityInfo, events: list[EventInfo]) -> dict[str, Any]:
    start, end = _lifetime(c, events)
    label = _label(c)
    attrs: dict[str, Any] = {
        "label": label,
        "name": label,
        "node_type": "community",
        "platform": c.platform,
        "handle": c.handle,
        "title": c.title,
        "url": c.url or "",
        "status": c.status,
        "gone": c.status in GONE_STATUSES,
        "kind": c.kind,
        "watch_state": c.watch_state,
        "member_count": c.member_count,
        "case": c.case_name,
        "labels": ";".join(c.labels) if c.labels else None,
        "events": ";".join(f"{e.kind}@{iso(e.occurred_at)}" for e in events) if events else None,
        "first_post": iso(c.first_post),
        "last_post": iso(c.last_post),
        "first_seen": iso(c.first_seen),
        "last_seen": iso(c.last_seen),
        "start": iso(start),
        "end": iso(end),
    }
    return with_unix_times({k: v for k, v in attrs.items() if v is not None})


def _clean(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attrs.items() if v is not None}


def build_graph(data: GraphData) -> nx.MultiDiGraph:
    """The community graph (see the module docstring for nodes, edges and their attributes)."""
    g: nx.MultiDiGraph = nx.MultiDiGraph()
    events_of: dict[int, list[EventInfo]] = defaultdict(list)
    for e in sorted(data.events, key=lambda e: (e.community_id, e.occurred_at, e.kind)):
        events_of[e.community_id].append(e)
    for c in sorted(data.communities, key=lambda c: c.id):
        g.add_node(community_node(c.id), **_community_attrs(c, events_of[c.id]))

    def both_exist(u: str, v: str) -> str | None:
        starts = [g.nodes[n]["start"] for n in (u, v)]
        return max(starts)

    def add(edge_type: EdgeType, a: int, b: int, weight: float, start: str | None = None, **attrs: Any) -> None:
        u, v = community_node(a), community_node(b)
        if u not in g or v not in g:
            return
        g.add_edge(u, v, key=edge_key(edge_type, u, v), **with_unix_times(_clean({
            "edge_type": str(edge_type), "weight": float(weight), "start": start or both_exist(u, v), **attrs})))

    for s in sorted(data.shared_members, key=lambda x: (x.a, x.b)):
        a, b = min(s.a, s.b), max(s.a, s.b)
        add(EdgeType.SHARED_MEMBERS, a, b, s.shared, symmetric=True, shared=s.shared,
            overlap_coefficient=round(s.overlap_coefficient, 6), jaccard=round(s.jaccard, 6),
            significance=round(s.significance, 6))
    for r in sorted(data.reposted, key=lambda x: (x.source, x.target)):
        weight = r.media_matches + r.text_matches or r.forwards
        add(EdgeType.REPOSTED_CONTENT, r.source, r.target, weight, symmetric=False, media_matches=r.media_matches,
            text_matches=r.text_matches, content_forwards=r.forwards)
    for f in sorted(data.forwards, key=lambda x: (x.source_id, x.target_id)):
        add(EdgeType.FORWARDS, f.source_id, f.target_id, f.count, iso(f.first_at), symmetric=False, count=f.count,
            first_at=iso(f.first_at), last_at=iso(f.last_at))
    for lk in sorted(data.links, key=lambda x: (x.source_id, x.target_id)):
        add(EdgeType.LINKS, lk.source_id, lk.target_id, lk.mentions + lk.announcements, iso(lk.first_at),
            symmetric=False, mentions=lk.mentions, announcements=lk.announcements, first_at=iso(lk.first_at),
            last_at=iso(lk.last_at))
    for mg in sorted(data.migrations, key=lambda x: (x.source_id, x.target_id)):
        add(EdgeType.MIGRATION, mg.source_id, mg.target_id, round(mg.score, 6), symmetric=False,
            score=round(mg.score, 6), level=mg.level, state=mg.state)
    seq: dict[int, int] = defaultdict(int)
    for rn in sorted(data.renames, key=lambda x: (x.community_id, x.at)):
        u = community_node(rn.community_id)
        if u not in g:
            continue
        seq[rn.community_id] += 1
        g.add_edge(u, u, key=f"{EdgeType.RENAME}:{u}:{seq[rn.community_id]}", **with_unix_times(_clean({
            "edge_type": str(EdgeType.RENAME), "weight": 1.0, "start": iso(rn.at), "symmetric": False,
            "old_handle": rn.old_handle, "new_handle": rn.new_handle, "old_title": rn.old_title,
            "new_title": rn.new_title, "first_at": iso(rn.at)})))
    _add_members(g, data)
    return g


def _add_members(g: nx.MultiDiGraph, data: GraphData) -> None:
    by_member: dict[str, list[Any]] = defaultdict(list)
    for link in data.members:
        if community_node(link.community_id) in g:
            by_member[link.member_key].append(link)
    for key in sorted(by_member):
        links = sorted(by_member[key], key=lambda x: x.community_id)
        if len(links) < 2:
            continue
        first = min(x.first_seen for x in links)
        g.add_node(key, **with_unix_times({
            "label": key, "name": key, "node_type": "member", "platform": links[0].platform, "url": "",
            "first_seen": iso(first), "last_seen": iso(max(x.last_seen for x in links)), "start": iso(first)}))
        for x in links:
            v = community_node(x.community_id)
            g.add_edge(key, v, key=edge_key(EdgeType.MEMBER_OF, key, v), **with_unix_times({
                "edge_type": str(EdgeType.MEMBER_OF), "weight": 1.0, "start": iso(x.first_seen), "symmetric": False,
                "first_at": iso(x.first_seen), "last_at": iso(x.last_seen),
                "state": "posted" if x.posted else "listed"}))
