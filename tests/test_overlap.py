"""Shared members: the sparse computation equals brute force; the store path gives the statistics
an investigator reads (shared count, overlap coefficient, Jaccard, significance)."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import hypergeom
from sqlalchemy import select

from detect.overlap import incidence, member_overlaps, members_first_seen_after, pair_metrics, shared_pairs
from model import records as r
from store import models as m
from store.db import Store
from store.ingest import IngestContext, ingest
from tests import factories as f
from tests.conftest import TEST_KEY

memberships = st.lists(st.tuples(st.integers(0, 7), st.integers(0, 25)), max_size=80)


def brute(rows: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
    members: dict[int, set[int]] = {}
    for c, u in rows:
        members.setdefault(c, set()).add(u)
    out = {}
    for a in members:
        for b in members:
            if a < b and (shared := len(members[a] & members[b])):
                out[(a, b)] = shared
    return out


@settings(max_examples=150, deadline=None)
@given(memberships, st.integers(1, 3), st.one_of(st.none(), st.sets(st.integers(0, 7), max_size=3)))
def test_sparse_shared_counts_equal_brute_force(rows: list[tuple[int, int]], min_shared: int,
                                                interest: set[int] | None) -> None:
    x = incidence(np.asarray([c for c, _ in rows], dtype=np.int64), np.asarray([u for _, u in rows], dtype=np.int64),
                  8, 26)
    i, j, s = shared_pairs(x, interest=None if interest is None else np.asarray(sorted(interest)),
                           min_shared=min_shared, block_rows=3)
    got = {(int(a), int(b)): int(c) for a, b, c in zip(i, j, s, strict=True)}
    assert len(got) == len(i)  # each pair once
    expected = {k: v for k, v in brute(rows).items() if v >= min_shared
                and (interest is None or k[0] in interest or k[1] in interest)}
    assert got == expected


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 30), st.integers(1, 30), st.integers(0, 30), st.integers(0, 40))
def test_metrics_match_definitions(a: int, b: int, shared: int, extra: int) -> None:
    shared = min(shared, a, b) or 1
    universe = a + b - shared + extra
    overlap, jaccard, sig = pair_metrics(np.array([shared]), np.array([a]), np.array([b]), np.array([universe]))
    assert math.isclose(overlap[0], shared / min(a, b))
    assert math.isclose(jaccard[0], shared / (a + b - shared))
    expected = -math.log10(hypergeom.sf(shared - 1, universe, a, b)) if hypergeom.sf(shared - 1, universe, a, b) > 0 \
        else None
    if expected is not None and expected < 200:
        assert math.isclose(sig[0], expected, rel_tol=1e-6, abs_tol=1e-9)
    assert sig[0] >= 0


def _members(handle: str, native: str, users: range, at: object = f.T0) -> list[r.Membership]:
    ref = f.ref(native, handle)
    return [r.Membership(ref, r.RawMember(r.Platform.TELEGRAM, f"user{u}"), at) for u in users]  # type: ignore[arg-type]


def _community_ids(session: object) -> dict[str, int]:
    return {h: i for i, h in session.execute(select(m.Community.id, m.Community.handle))}  # type: ignore[attr-defined]


def test_member_overlaps_from_the_store(any_store: Store) -> None:
    with any_store.session() as s:
        ctx = IngestContext(key=TEST_KEY)
        ingest(s, [f.snapshot("1", "alpha"), f.snapshot("2", "beta"), f.snapshot("3", "gamma")], ctx)
        ingest(s, _members("alpha", "1", range(0, 100)), ctx)
        ingest(s, _members("beta", "2", range(60, 140)), ctx)  # 40 shared with alpha
        ingest(s, _members("gamma", "3", range(1000, 1600)), ctx)  # nobody shared
    with any_store.session() as s:
        ids = _community_ids(s)
        result = member_overlaps(s)
        key = (min(ids["alpha"], ids["beta"]), max(ids["alpha"], ids["beta"]))
        assert set(result) == {key}
        pair = result[key]
        assert (pair.shared, sorted((pair.size_a, pair.size_b))) == (40, [80, 100])
        assert math.isclose(pair.overlap_coefficient, 40 / 80)
        assert math.isclose(pair.jaccard, 40 / 140)
        # Universe: the larger of the 740 distinct Telegram members seen anywhere and the platforms' own
        # member counts of the three channels (3 × 5120); 40 shared is far beyond chance.
        assert math.isclose(pair.significance, -math.log10(hypergeom.sf(39, 3 * 5120, 100, 80)), rel_tol=1e-6)
        assert pair.significance > 10

        only_gamma = member_overlaps(s, [ids["gamma"]])
        assert only_gamma == {}
        scoped = member_overlaps(s, [ids["beta"]])
        assert scoped == result  # same numbers when asking about one side only
        assert member_overlaps(s, min_shared=41) == {}


def test_members_first_seen_after(any_store: Store) -> None:
    shutdown = f.T0 + timedelta(days=10)
    with any_store.session() as s:
        ctx = IngestContext(key=TEST_KEY)
        ingest(s, [f.snapshot("1", "alpha"), f.snapshot("2", "beta")], ctx)
        ingest(s, _members("alpha", "1", range(0, 50)), ctx)
        ingest(s, _members("beta", "2", range(0, 10), f.T0), ctx)  # were in beta before
        ingest(s, _members("beta", "2", range(10, 30), shutdown + timedelta(days=1)), ctx)  # came after
        ingest(s, _members("beta", "2", range(500, 520), shutdown + timedelta(days=1)), ctx)  # strangers
    with any_store.session() as s:
        ids = _community_ids(s)
        assert members_first_seen_after(s, ids["beta"], ids["alpha"], shutdown) == 20
        assert members_first_seen_after(s, ids["alpha"], ids["beta"], shutdown) == 0


def test_fast_hypergeometric_tail_agrees_with_scipy() -> None:
    from detect.overlap import hypergeom_logsf

    rng = np.random.default_rng(5)
    a = rng.integers(1, 3000, 400)
    b = rng.integers(1, 3000, 400)
    total = a + b + rng.integers(0, 50_000, 400)
    k = np.minimum(rng.integers(1, 400, 400), np.minimum(a, b))
    k[:5] = np.minimum(a, b)[:5]  # the extreme: everyone shared
    ref = hypergeom.logsf(k - 1, total, a, b)
    ours = hypergeom_logsf(k, total, a, b)
    finite = np.isfinite(ref)
    assert np.allclose(ours[finite], ref[finite], rtol=1e-8, atol=1e-10)
