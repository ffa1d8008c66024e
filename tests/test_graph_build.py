"""From the store to the graph: every edge type built from real rows on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import networkx as nx
import pytest
from sqlalchemy import select

from graph.builder import build_graph
from graph.exports import ExportFormat, export_graph
from graph.metrics import add_metrics
from model import records as r
from service.graph import load_graph_data
from store import models as m
from store.db import Store
from store.ingest import IngestContext, ingest
from tests.conftest import TEST_KEY
from tests.factories import T0, post, snapshot

SECRET_TEXT = "testo segreto del messaggio"
PDQ = "f" * 32 + "0" * 32


def _ctx(target: int | None = None) -> IngestContext:
    return IngestContext(key=TEST_KEY, target_community_id=target)


def _link(handle: str) -> r.ExtractedLink:
    return r.ExtractedLink(url=f"https://t.me/{handle}", kind=r.LinkKind.TELEGRAM_PUBLIC, platform="telegram",
                           handle=handle)


def _media(sha: str) -> r.MediaFingerprint:
    return r.MediaFingerprint(sha256=sha, pdq=PDQ, pdq_quality=90)


def _populate(store: Store) -> dict[str, int]:
    """A (cortile_segreto, 1001) links to B by B's *former* handle, is banned; B (2002) is renamed,
    forwards and reposts A's content, shares members with A; C (3003) is unrelated."""
    day = timedelta(days=1)
    with store.session() as s:
        ingest(s, [snapshot(at=T0, title="Il Cortile Segreto")], _ctx())
        ingest(s, [snapshot(native_id="2002", handle="cortile_backup", title="Cortile Backup", at=T0 + day)], _ctx())
        ingest(s, [snapshot(native_id="3003", handle="altro_canale", title="Altro", at=T0)], _ctx())
        ingest(s, [
            post(1, text=f"{SECRET_TEXT} https://t.me/cortile_backup", user="u1", user_handle="alice_real",
                 links=(_link("cortile_backup"),), media=(_media("a" * 64),), at=T0),
            post(2, text="nuovo canale: t.me/cortile_backup", user="u2", links=(_link("cortile_backup"),), at=T0),
            post(3, user="u3", at=T0),
        ], _ctx())
        ingest(s, [snapshot(status=r.CommunityStatus.BANNED, native_id=None, title=None, members=None,
                            at=T0 + 4 * day)], _ctx())
        ingest(s, [snapshot(native_id="2002", handle="cortile_riserva", title="Cortile Riserva",
                            at=T0 + 5 * day)], _ctx())
        b_posts = [
            replace(post(10 + i, native_id="2002", handle="cortile_riserva", user=f"u{i % 2 + 1}",
                         at=T0 + 5 * day),
                    forwarded_from=r.ForwardRef("telegram", native_id="1001", handle="cortile_segreto", post_id="1"))
            for i in range(3)
        ]
        b_posts.append(post(20, native_id="2002", handle="cortile_riserva", user="u1", at=T0 + 6 * day,
                            media=(_media("a" * 64),)))
        ingest(s, b_posts, _ctx())
        ids = {c.native_id: c.id for c in s.scalars(select(m.Community))}
        a, b, c = ids["1001"], ids["2002"], ids["3003"]
        s.add(m.Candidate(source_id=a, target_id=b, score=0.87, level="strong", signals=[], state="open",
                          computed_at=T0 + 6 * day))
        s.add(m.Event(kind="shutdown", dedup_key=f"shutdown:{a}", community_id=a, occurred_at=T0 + 4 * day,
                      evidence={}))
        s.add(m.Event(kind="announcement", dedup_key=f"announce:{a}:{b}", community_id=a, related_community_id=b,
                      occurred_at=T0 + 2 * day, evidence={"text": SECRET_TEXT}))
        community = s.get(m.Community, a)
        assert community is not None
        community.case_name = "op-cortile"
    return {"a": a, "b": b, "c": c}


def test_store_to_graph_has_every_edge_type(any_store: Store) -> None:
    ids = _populate(any_store)
    a, b, c = (f"c{ids[k]}" for k in "abc")
    with any_store.session() as s:
        g = add_metrics(build_graph(load_graph_data(s, members=True)))

    assert {n for n, d in g.nodes(data=True) if d["node_type"] == "community"} == {a, b, c}
    assert g.nodes[a]["status"] == "banned" and g.nodes[a]["case"] == "op-cortile"
    assert g.nodes[a]["end"] == (T0 + timedelta(days=4)).isoformat()
    assert "shutdown@" in g.nodes[a]["events"]
    # B is live: its interval ends at its last post (post 20, written at T0 + 6 days + 20 minutes).
    assert g.nodes[b]["gone"] is False and g.nodes[a]["gone"] is True
    assert g.nodes[b]["end"] == (T0 + timedelta(days=6, minutes=20)).isoformat()

    def edge(kind: str, u: str, v: str) -> dict[str, object]:
        data: dict[str, object] = g.edges[u, v, f"{kind}:{u}>{v}"]
        return data

    links = edge("links", a, b)  # resolved through B's former handle
    assert (links["mentions"], links["announcements"]) == (2, 1)
    fwd = edge("forwards", a, b)
    assert fwd["count"] == 3 and fwd["weight"] == 3.0
    shared = edge("shared_members", min(a, b, key=lambda n: int(n[1:])), max(a, b, key=lambda n: int(n[1:])))
    assert shared["shared"] == 2 and shared["symmetric"] is True
    assert 0 < float(shared["jaccard"]) <= float(shared["overlap_coefficient"]) <= 1  # type: ignore[arg-type]
    reposted = edge("reposted_content", a, b)
    assert reposted["content_forwards"] == 3 and reposted["media_matches"] == 1
    mig = edge("migration", a, b)
    assert (mig["score"], mig["level"], mig["state"]) == (0.87, "strong", "open")
    renames = [d for u, v, d in g.edges(data=True) if d["edge_type"] == "rename"]
    assert len(renames) == 1 and renames[0]["old_handle"] == "cortile_backup"
    assert renames[0]["new_handle"] == "cortile_riserva" and renames[0]["new_title"] == "Cortile Riserva"
    assert g.degree(c) == 0

    members = [n for n, d in g.nodes(data=True) if d["node_type"] == "member"]
    assert len(members) == 2  # u1 and u2 are in A and B; u3 only in A
    assert all(n.startswith("m") and len(n) == 17 for n in members)
    with any_store.session() as s:
        pseudonyms = set(s.scalars(select(m.Member.pseudonym)))
    assert not set(members) & pseudonyms  # export ids are not the stored pseudonyms


def test_exports_from_the_store_carry_no_text_or_member_identity(sqlite_store: Store, tmp_path: Path) -> None:
    _populate(sqlite_store)
    with sqlite_store.session() as s:
        g = add_metrics(build_graph(load_graph_data(s, members=True)))
        pseudonyms = list(s.scalars(select(m.Member.pseudonym)))
    for fmt in ExportFormat:
        for path in export_graph(g, fmt, tmp_path / f"g.{fmt}"):
            blob = path.read_bytes()
            for secret in (SECRET_TEXT, "alice_real", "nuovo canale", *pseudonyms):
                assert secret.encode() not in blob, f"{secret!r} in {path.name}"


def test_empty_store_gives_an_empty_graph(sqlite_store: Store, tmp_path: Path) -> None:
    with sqlite_store.session() as s:
        g = add_metrics(build_graph(load_graph_data(s)))
    assert g.number_of_nodes() == 0
    for fmt in ExportFormat:
        for path in export_graph(g, fmt, tmp_path / f"empty.{fmt}"):
            assert path.stat().st_size > 0
    assert nx.read_graphml(tmp_path / "empty.graphml").number_of_nodes() == 0


@pytest.mark.parametrize("handle", ["CORTILE_BACKUP", "cortile_backup"])
def test_link_targets_resolve_case_insensitively(sqlite_store: Store, handle: str) -> None:
    day = timedelta(days=1)
    with sqlite_store.session() as s:
        ingest(s, [snapshot(at=T0)], _ctx())
        ingest(s, [snapshot(native_id="2002", handle="cortile_backup", title="B", at=T0 + day)], _ctx())
        ingest(s, [post(1, links=(_link(handle),)), post(2, links=(_link("never_seen"),))], _ctx())
        g = build_graph(load_graph_data(s))
    links = [(u, v) for u, v, d in g.edges(data=True) if d["edge_type"] == "links"]
    assert len(links) == 1  # the link to a community never observed is a lead, not an edge
