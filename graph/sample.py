"""Fictional graph data: a small migration story for demos and tests, and synthetic graphs of any
size for benchmarks. Nothing here comes from a real community."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from graph.queries import (
    CommunityInfo,
    EventInfo,
    GraphData,
    LinkCount,
    MemberLink,
    MigrationInfo,
    NameChange,
    PairCount,
    RepostedContent,
    SharedMembers,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def sample_graph_data(*, members: bool = True) -> GraphData:
    """A banned Telegram channel (1) whose audience moves to a reserve channel (2), fed by a banned
    subreddit (3); a forum (4) on another case, and a later offshoot (5)."""
    def community(cid: int, platform: str, handle: str, title: str, status: str, first: float, *,
                  case: str | None = "op-cortile", kind: str = "channel", count: int | None = None,
                  gone: float | None = None, removed: float | None = None) -> CommunityInfo:
        return CommunityInfo(id=cid, platform=platform, handle=handle, title=title, status=status, kind=kind,
                             watch_state="seed", member_count=count, case_name=case,
                             labels=("ncii",) if case else (), url=f"https://example.invalid/{handle}",
                             first_seen=_day(first), last_seen=_day(14), gone_at=_day(gone) if gone else None,
                             removed_at=_day(removed) if removed else None)

    communities = (
        community(1, "telegram", "cortile_segreto", "Il Cortile Segreto", "banned", 0, count=5120, gone=10),
        community(2, "telegram", "cortile_riserva", "Cortile Riserva", "active", 9, count=2300),
        community(3, "reddit", "cortilesegreto", "r/cortilesegreto", "banned", -20, kind="subreddit", count=800,
                  removed=3),
        community(4, "discourse", "forum.example.invalid", "Example Forum", "active", -40, kind="forum",
                  case="op-other"),
        community(5, "telegram", "giardino_nuovo", "Giardino Nuovo", "active", 12, case=None, count=150),
    )
    member_links: tuple[MemberLink, ...] = ()
    if members:
        member_links = (
            MemberLink("m00aa11bb22cc33dd", "telegram", 1, _day(1), _day(9), True),
            MemberLink("m00aa11bb22cc33dd", "telegram", 2, _day(10), _day(14), True),
            MemberLink("m44ee55ff6600aa11", "telegram", 1, _day(2), _day(8), False),
            MemberLink("m44ee55ff6600aa11", "telegram", 2, _day(11), _day(13), True),
            MemberLink("m44ee55ff6600aa11", "telegram", 5, _day(12), _day(13), False),
            MemberLink("m99cc88bb77aa6655", "telegram", 2, _day(11), _day(12), False),
        )
    return GraphData(
        communities=communities,
        renames=(NameChange(2, _day(11), "cortile_backup", "cortile_riserva", "Cortile Backup", "Cortile Riserva"),),
        forwards=(PairCount(1, 2, 14, _day(9.5), _day(12)),),
        links=(LinkCount(1, 2, 3, 1, _day(9.2), _day(9.9)), LinkCount(3, 1, 2, 0, _day(-5), _day(2))),
        migrations=(MigrationInfo(1, 2, 0.91, "strong", "open", _day(12)),
                    MigrationInfo(3, 1, 0.55, "likely", "open", _day(4)),
                    MigrationInfo(2, 5, 0.3, "possible", "dismissed", _day(13))),
        events=(EventInfo(1, "shutdown", _day(10), None), EventInfo(3, "shutdown", _day(3), None),
                EventInfo(1, "announcement", _day(9.2), 2)),
        shared_members=(SharedMembers(1, 2, 120, 0.052, 0.016, 42.5), SharedMembers(1, 3, 15, 0.019, 0.0026, 3.1),
                        SharedMembers(2, 5, 4, 0.027, 0.0016, 1.2)),
        reposted=(RepostedContent(1, 2, 30, 5, 14),),
        members=member_links,
    )


def synthetic_graph_data(n_nodes: int, n_edges: int, seed: int = 7) -> GraphData:
    """``n_nodes`` communities and about ``n_edges`` edges spread over the edge types (for benchmarks)."""
    rnd = random.Random(seed)
    platforms = ("telegram", "reddit", "discourse", "phpbb", "xenforo")
    communities = tuple(
        CommunityInfo(id=i, platform=platforms[i % len(platforms)], handle=f"community_{i}", title=f"Community {i}",
                      status="banned" if i % 17 == 0 else "active", kind="channel", watch_state="seed",
                      member_count=rnd.randint(10, 50000), case_name=f"case-{i % 7}", labels=(),
                      url=None, first_seen=_day(rnd.uniform(-100, 0)), last_seen=_day(1),
                      gone_at=_day(rnd.uniform(0, 10)) if i % 17 == 0 else None)
        for i in range(1, n_nodes + 1)
    )
    per_type = max(1, n_edges // 5)

    def pairs(k: int) -> list[tuple[int, int]]:
        out: set[tuple[int, int]] = set()
        while len(out) < min(k, n_nodes * (n_nodes - 1)):
            a, b = rnd.randint(1, n_nodes), rnd.randint(1, n_nodes)
            if a != b:
                out.add((a, b))
        return sorted(out)

    shared = tuple(SharedMembers(min(a, b), max(a, b), rnd.randint(1, 500), rnd.random(), rnd.random() / 2,
                                 rnd.random() * 50) for a, b in pairs(per_type) if a < b)
    forwards = tuple(PairCount(a, b, rnd.randint(1, 40), _day(rnd.uniform(-50, 0)), _day(1))
                     for a, b in pairs(per_type))
    links = tuple(LinkCount(a, b, rnd.randint(1, 10), rnd.randint(0, 1), _day(rnd.uniform(-50, 0)), _day(1))
                  for a, b in pairs(per_type))
    reposted = tuple(RepostedContent(a, b, rnd.randint(0, 30), rnd.randint(0, 30), rnd.randint(0, 5))
                     for a, b in pairs(per_type))
    migrations = tuple(MigrationInfo(a, b, round(rnd.random(), 3), rnd.choice(["possible", "likely", "strong"]),
                                     "open", _day(2)) for a, b in pairs(per_type))
    return GraphData(communities=communities, forwards=forwards, links=links, migrations=migrations,
                     shared_members=shared, reposted=reposted)
