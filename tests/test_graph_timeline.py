"""Gephi's timeline from a real store: communities live from their first to their last post, a gone
one ends at its shutdown, and typed time columns sit beside the ISO dates in GEXF and GraphML."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import networkx as nx
import pytest
from lxml import etree
from sqlalchemy import select

from graph.builder import build_graph
from graph.export_gexf import NS, read_gexf
from graph.exports import export_graph
from graph.metrics import add_metrics
from model import records as r
from service.graph import load_graph_data
from store import models as m
from store.db import Store
from store.ingest import IngestContext, ingest
from tests.conftest import TEST_KEY
from tests.factories import T0, post, snapshot

DAY = timedelta(days=1)
SHUTDOWN_AT = T0 + 3 * DAY  # the detector's shutdown event
GONE_SEEN_AT = T0 + 4 * DAY  # the crawl that first found it banned (a day later)


def _ctx() -> IngestContext:
    return IngestContext(key=TEST_KEY)


def _store_with_history(store: Store) -> dict[str, int]:
    """A (1001) posted for weeks before we first crawled it and was banned; B (2002) is its
    successor, first crawled a day after A but posting only after A's shutdown; C (3003) has no
    posts at all. Crawl times (T0…) and post dates differ on purpose."""
    with store.session() as s:
        ingest(s, [snapshot(at=T0)], _ctx())
        ingest(s, [post(n, at=T0 - 20 * DAY) for n in (1, 2)] + [post(3, at=T0 - 2 * DAY)], _ctx())
        ingest(s, [snapshot(native_id="2002", handle="cortile_riserva", title="Cortile Riserva",
                            at=T0 + DAY)], _ctx())
        ingest(s, [post(10, native_id="2002", handle="cortile_riserva", at=T0 + 3 * DAY + timedelta(hours=2)),
                   post(11, native_id="2002", handle="cortile_riserva", at=T0 + 5 * DAY)], _ctx())
        ingest(s, [snapshot(native_id="3003", handle="quieto", title="Quieto", at=T0 + DAY)], _ctx())
        ingest(s, [snapshot(native_id="3003", handle="quieto", title="Quieto", at=T0 + 6 * DAY)], _ctx())
        ingest(s, [snapshot(status=r.CommunityStatus.BANNED, native_id=None, title=None, members=None,
                            at=GONE_SEEN_AT)], _ctx())
        ids = {c.native_id: c.id for c in s.scalars(select(m.Community))}
        s.add(m.Event(kind="shutdown", dedup_key=f"shutdown:{ids['1001']}", community_id=ids["1001"],
                      occurred_at=SHUTDOWN_AT, evidence={}))
    return {"a": ids["1001"], "b": ids["2002"], "c": ids["3003"]}


def _iso(value: datetime) -> str:
    return value.isoformat()


@pytest.fixture
def exported(sqlite_store: Store, tmp_path: Path) -> tuple[Path, dict[str, int]]:
    ids = _store_with_history(sqlite_store)
    with sqlite_store.session() as s:
        g = add_metrics(build_graph(load_graph_data(s)))
    path = tmp_path / "timeline.gexf"
    export_graph(g, "gexf", path)
    return path, ids


def test_gexf_node_intervals_run_from_first_to_last_post(exported: tuple[Path, dict[str, int]]) -> None:
    path, ids = exported
    # Independent reading with lxml: the <node start end> attributes Gephi's timeline uses.
    root = etree.parse(str(path)).getroot()
    spans = {n.get("id"): (n.get("start"), n.get("end")) for n in root.iter(f"{{{NS}}}node")}
    a, b, c = (f"c{ids[k]}" for k in "abc")
    # factories.post(n, at=X) writes the post at X + n minutes.
    assert spans[a] == (_iso(T0 - 20 * DAY + timedelta(minutes=1)), _iso(SHUTDOWN_AT))
    assert spans[b] == (_iso(T0 + 3 * DAY + timedelta(hours=2, minutes=10)),
                        _iso(T0 + 5 * DAY + timedelta(minutes=11)))
    assert spans[c] == (_iso(T0 + DAY), _iso(T0 + 6 * DAY))  # no posts: first and last crawl
    # The successor starts after the deleted group's first post, and after its shutdown.
    assert spans[b][0] > spans[a][0] and spans[b][0] > spans[a][1]
    back = read_gexf(path)  # the same through networkx's reader
    assert (back.nodes[a]["start"], back.nodes[a]["end"]) == spans[a]
    assert back.nodes[a]["first_post"] == spans[a][0] and back.nodes[a]["first_seen"] == _iso(T0)


def test_gone_community_ends_at_the_stored_shutdown_not_the_later_crawl(
        exported: tuple[Path, dict[str, int]]) -> None:
    path, ids = exported
    back = read_gexf(path)
    a = back.nodes[f"c{ids['a']}"]
    assert a["status"] == "banned" and a["gone"] is True
    assert a["end"] == _iso(SHUTDOWN_AT) != _iso(GONE_SEEN_AT)


def test_dates_have_typed_unix_twins_in_gexf_and_graphml(sqlite_store: Store, tmp_path: Path) -> None:
    ids = _store_with_history(sqlite_store)
    with sqlite_store.session() as s:
        g = add_metrics(build_graph(load_graph_data(s)))
    export_graph(g, "gexf", tmp_path / "g.gexf")
    export_graph(g, "graphml", tmp_path / "g.graphml")
    gexf = etree.parse(str(tmp_path / "g.gexf")).getroot()
    declared = {a.get("id"): a.get("type") for a in gexf.iter(f"{{{NS}}}attribute")}
    for name in ("start_unix", "end_unix", "first_post_unix", "last_post_unix", "member_count", "first_at_unix"):
        assert declared[name] == "long", name
    assert declared["gone"] == "boolean" and declared["betweenness"] == "double"
    graphml = etree.parse(str(tmp_path / "g.graphml")).getroot()
    gns = "{http://graphml.graphdrawing.org/xmlns}"
    keys = {(k.get("for"), k.get("attr.name")): k.get("attr.type") for k in graphml.iter(f"{gns}key")}
    assert keys[("node", "end_unix")] == "long" and keys[("node", "member_count")] == "long"
    assert keys[("node", "gone")] == "boolean" and keys[("node", "betweenness")] == "double"
    back = nx.read_graphml(tmp_path / "g.graphml")
    a = back.nodes[f"c{ids['a']}"]
    assert a["end_unix"] == int(SHUTDOWN_AT.timestamp())
    assert a["first_post_unix"] == int((T0 - 20 * DAY + timedelta(minutes=1)).timestamp())


def test_renames_the_detector_stored_are_read_not_recomputed(sqlite_store: Store) -> None:
    """A Telegram service post ("channel name was changed to …") gives the detector a rename that no
    pair of snapshots shows; the graph must carry it. A malformed stored event is skipped."""
    ids = _store_with_history(sqlite_store)
    with sqlite_store.session() as s:
        s.add(m.Event(kind="rename", dedup_key="rename:b:title", community_id=ids["b"], occurred_at=T0 + 4 * DAY,
                      evidence={"field": "title", "old": "Cortile Backup", "new": "Cortile Riserva",
                                "via": "service_post"}))
        s.add(m.Event(kind="rename", dedup_key="rename:c:broken", community_id=ids["c"], occurred_at=T0 + 4 * DAY,
                      evidence={"via": "snapshot"}))
    with sqlite_store.session() as s:
        g = build_graph(load_graph_data(s))
    renames = [(u, d) for u, v, d in g.edges(data=True) if d["edge_type"] == "rename"]
    assert [(u, d["old_title"], d["new_title"], d["start"]) for u, d in renames] == [
        (f"c{ids['b']}", "Cortile Backup", "Cortile Riserva", _iso(T0 + 4 * DAY))]


def test_since_keeps_live_communities_whose_last_post_is_older(sqlite_store: Store) -> None:
    """The exported `end` of a live community is its last post, but it still exists: `--since` after
    that post keeps it, while a community shut down before the window is left out."""
    from graph.filters import GraphFilter, apply_filters

    ids = _store_with_history(sqlite_store)
    with sqlite_store.session() as s:
        g = build_graph(load_graph_data(s))
    kept = apply_filters(g, GraphFilter(since=T0 + 6 * DAY))
    assert sorted(kept.nodes) == sorted([f"c{ids['b']}", f"c{ids['c']}"])
