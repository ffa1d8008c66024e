"""Shared members between communities: counts, overlap coefficient, Jaccard and significance.

The membership table is a bipartite graph (community × member pseudonym). Shared-member counts for
every pair of communities are the off-diagonal entries of ``C = X · Xᵀ`` where ``X`` is the sparse
0/1 incidence matrix (rows communities, columns members). scipy's sparse product does that in C in
time proportional to Σ deg(member)², instead of the Python loops of a graph projection
(bench/overlap.py measures the difference against networkx). Rows are multiplied in blocks so that
memory stays bounded by one block of ``C`` rather than the whole, possibly dense, matrix.

*Incremental where it pays*: the detector usually asks about a handful of communities (one that
just shut down, its successors). With ``community_ids`` only memberships of members who belong to
one of those communities are loaded, and only their rows are multiplied; a pair is reported when at
least one side is of interest.

Significance is ``-log10 P(X ≥ shared)`` for a hypergeometric ``X``: how surprising is it that two
communities of sizes |A| and |B|, drawn from a universe of N members, share this many by chance?
N is, per platform of the pair, the larger of the distinct members seen there (all memberships, not
only those loaded for the query) and the sum of the platforms' own member counts of the communities we
know there (:func:`reported_members_per_platform`: the population the members could have come from,
which on a new deployment is far larger than the members seen), because member pseudonyms are per
platform (two platforms' members are disjoint sets), so the universe of a Telegram pair is everyone
seen on Telegram, and of a Telegram × Reddit pair everyone seen on either. This keeps the figure
stable whatever subset of communities a query looks at.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy import sparse
from scipy.special import gammaln
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from store import models as m

#: Rows of X multiplied at once. Bounds the memory of one block of C (rows × communities).
BLOCK_ROWS = 512
#: -log10 p is capped here (p underflows to 0 for huge overlaps; JSON has no infinity).
MAX_SIGNIFICANCE = 1000.0


@dataclass(frozen=True, slots=True)
class PairOverlap:
    a: int  # community id, a < b
    b: int
    shared: int
    size_a: int
    size_b: int
    overlap_coefficient: float  # shared / min(|A|, |B|)
    jaccard: float  # shared / |A ∪ B|
    significance: float  # -log10 hypergeometric survival p-value


# --- pure core ------------------------------------------------------------------------------------


def incidence(rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> sparse.csr_matrix:
    """0/1 CSR incidence matrix; duplicate (row, col) pairs count once."""
    data = np.ones(len(rows), dtype=np.int32)
    x = sparse.csr_matrix((data, (rows, cols)), shape=(n_rows, n_cols), dtype=np.int32)
    x.sum_duplicates()
    x.data[:] = 1
    return x


def shared_pairs(
    x: sparse.csr_matrix,
    *,
    interest: np.ndarray | None = None,
    min_shared: int = 1,
    block_rows: int = BLOCK_ROWS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of rows of ``x`` sharing at least ``min_shared`` columns.

    Returns ``(i, j, shared)`` with ``i < j``. With ``interest`` (row indices), only pairs with at
    least one row of interest are returned, each once.
    """
    n = x.shape[0]
    xt = x.T.tocsr()
    rows_of_interest = np.arange(n) if interest is None else np.unique(np.asarray(interest, dtype=np.int64))
    is_interest = np.zeros(n, dtype=bool)
    is_interest[rows_of_interest] = True
    out_i: list[np.ndarray] = []
    out_j: list[np.ndarray] = []
    out_s: list[np.ndarray] = []
    threshold = max(1, min_shared)
    for start in range(0, len(rows_of_interest), block_rows):
        block_idx = rows_of_interest[start:start + block_rows]
        product = (x[block_idx] @ xt).tocoo()
        gi = block_idx[product.row]
        gj = product.col.astype(np.int64)
        keep = (product.data >= threshold) & (gi != gj)
        # A pair of two interesting rows shows up twice (once per row): keep the i < j copy.
        keep &= ~is_interest[gj] | (gj > gi)
        gi, gj, s = gi[keep], gj[keep], product.data[keep]
        out_i.append(np.minimum(gi, gj))
        out_j.append(np.maximum(gi, gj))
        out_s.append(s.astype(np.int64))
    if not out_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_s)


def pair_metrics(
    shared: np.ndarray, size_a: np.ndarray, size_b: np.ndarray, universe: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Overlap coefficient, Jaccard and -log10 hypergeometric p-value, vectorised."""
    shared = np.asarray(shared, dtype=np.float64)
    size_a = np.asarray(size_a, dtype=np.float64)
    size_b = np.asarray(size_b, dtype=np.float64)
    smaller = np.minimum(size_a, size_b)
    union = size_a + size_b - shared
    with np.errstate(divide="ignore", invalid="ignore"):
        overlap = np.where(smaller > 0, shared / smaller, 0.0)
        jaccard = np.where(union > 0, shared / union, 0.0)
    universe = np.maximum(np.asarray(universe, dtype=np.float64), np.maximum(size_a, size_b))
    logsf = hypergeom_logsf(shared, universe, size_a, size_b)
    significance = np.nan_to_num(-logsf / math.log(10.0), nan=0.0, posinf=MAX_SIGNIFICANCE, neginf=0.0)
    significance = np.clip(significance, 0.0, MAX_SIGNIFICANCE)
    return overlap, jaccard, significance


def _log_choose(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    return np.asarray(gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1), dtype=np.float64)


def hypergeom_logsf(k: np.ndarray, total: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``log P(X ≥ k)`` for X ~ Hypergeom(total, a, b), vectorised.

    scipy's ``hypergeom.sf``/``logsf`` cost ~0.4 ms per call (hundreds of thousands of pairs would
    take minutes), so the tail is summed here with the pmf ratio recurrence, starting from ``k``
    and walking away from the mode, where terms shrink geometrically: upwards for ``k`` above the
    mean, and for ``k`` at or below it through the complement ``1 - P(X ≤ k-1)`` summed downwards
    (that tail is then ≤ ~0.5, so the subtraction is well conditioned). Terms below 1e-17 of the
    running sum are dropped. Agrees with scipy to ~1e-12 (see tests/test_overlap.py).
    """
    k, total, a, b = (np.asarray(v, dtype=np.float64) for v in (k, total, a, b))
    k, total, a, b = np.broadcast_arrays(k, total, a, b)
    lo = np.maximum(0.0, a + b - total)
    hi = np.minimum(a, b)
    rest = total - a - b
    out = np.zeros(k.shape, dtype=np.float64)
    out[k > hi] = -np.inf
    inner = (k > lo) & (k <= hi)
    upper = inner & (k > a * b / np.where(total > 0, total, 1.0))
    lower = inner & ~upper

    idx = np.flatnonzero(upper)
    if len(idx):
        x, term, acc = k[idx].copy(), np.ones(len(idx)), np.ones(len(idx))
        aa, bb, rr, hh = a[idx], b[idx], rest[idx], hi[idx]
        live = np.arange(len(idx))
        live = live[x[live] < hh[live]]
        while len(live):
            xl = x[live]
            term[live] *= (aa[live] - xl) * (bb[live] - xl) / ((xl + 1) * (rr[live] + xl + 1))
            x[live] += 1
            acc[live] += term[live]
            live = live[(x[live] < hh[live]) & (term[live] > 1e-17 * acc[live])]
        kk = k[idx]
        logpmf = (_log_choose(a[idx], kk) + _log_choose(total[idx] - a[idx], b[idx] - kk)
                  - _log_choose(total[idx], b[idx]))
        out[idx] = logpmf + np.log(acc)

    idx = np.flatnonzero(lower)
    if len(idx):
        start = k[idx] - 1  # P(X ≤ k-1), summed downwards from k-1
        x, term, acc = start.copy(), np.ones(len(idx)), np.ones(len(idx))
        aa, bb, rr, ll = a[idx], b[idx], rest[idx], lo[idx]
        live = np.arange(len(idx))
        live = live[x[live] > ll[live]]
        while len(live):
            xl = x[live]
            term[live] *= xl * (rr[live] + xl) / ((aa[live] - xl + 1) * (bb[live] - xl + 1))
            x[live] -= 1
            acc[live] += term[live]
            live = live[(x[live] > ll[live]) & (term[live] > 1e-17 * acc[live])]
        logpmf = (_log_choose(a[idx], start) + _log_choose(total[idx] - a[idx], b[idx] - start)
                  - _log_choose(total[idx], b[idx]))
        cdf = np.minimum(np.exp(logpmf) * acc, 1.0)
        out[idx] = np.log1p(-cdf)
    return out


# --- store edge ---------------------------------------------------------------------------------


def _memberships(session: Session, community_ids: Collection[int] | None) -> tuple[np.ndarray, np.ndarray]:
    stmt = select(m.Membership.community_id, m.Membership.member_id)
    if community_ids is not None:
        members_of_interest = (
            select(m.Membership.member_id).where(m.Membership.community_id.in_(list(community_ids))).distinct()
        )
        stmt = stmt.where(m.Membership.member_id.in_(members_of_interest))
    rows = session.execute(stmt).all()
    if not rows:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    arr = np.asarray(rows, dtype=np.int64)
    return arr[:, 0], arr[:, 1]


def _sizes(session: Session, ids: list[int]) -> dict[int, int]:
    sizes: dict[int, int] = {}
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        for cid, count in session.execute(
            select(m.Membership.community_id, func.count())
            .where(m.Membership.community_id.in_(chunk))
            .group_by(m.Membership.community_id)
        ):
            sizes[int(cid)] = int(count)
    return sizes


def _platforms(session: Session, ids: list[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        for cid, platform in session.execute(
            select(m.Community.id, m.Community.platform).where(m.Community.id.in_(chunk))
        ):
            out[int(cid)] = str(platform)
    return out


def members_per_platform(session: Session) -> dict[str, int]:
    """Distinct members with at least one membership, by platform (the hypergeometric universe)."""
    # each member once, asked whether it has a membership (one index probe), rather than every membership
    # joined to its member and made distinct
    has_membership = select(m.Membership.member_id).where(m.Membership.member_id == m.Member.id).exists()
    stmt = select(m.Member.platform, func.count()).where(has_membership).group_by(m.Member.platform)
    return {str(p): int(n) for p, n in session.execute(stmt)}


def reported_members_per_platform(session: Session) -> dict[str, int]:
    """The platforms' own member counts (``Community.member_count``: a channel's subscribers, a
    subreddit's subscribers, a forum's users), summed per platform over every community we know.

    This is a lower bound of the people who could have joined any of them, and on day one of a
    deployment it is far larger than the handful of members we happen to have seen (issue 15,
    class 6: 16 of 18 members shared scored significance 0 when the universe was the 20 members known).
    """
    stmt = (select(m.Community.platform, func.sum(m.Community.member_count))
            .where(m.Community.member_count.is_not(None)).group_by(m.Community.platform))
    return {str(p): int(n or 0) for p, n in session.execute(stmt)}


def platform_universes(session: Session) -> dict[str, int]:
    """Per platform, the population its members are drawn from: the larger of the members seen there
    and the members its communities report (see the module docstring)."""
    seen, reported = members_per_platform(session), reported_members_per_platform(session)
    return {p: max(seen.get(p, 0), reported.get(p, 0)) for p in sorted(set(seen) | set(reported))}


def member_overlaps(
    session: Session, community_ids: Collection[int] | None = None, min_shared: int = 1,
    universes: Mapping[str, int] | None = None,
) -> dict[tuple[int, int], PairOverlap]:
    """Shared-member statistics for pairs of communities, keyed ``(min_id, max_id)``.

    ``community_ids=None`` computes all pairs; otherwise every pair with at least one side in
    ``community_ids`` (the other side may be any community). Pairs sharing fewer than
    ``min_shared`` members are left out. ``universes`` (per platform, as :func:`platform_universes`
    gives them) saves reading them again when the caller has them.
    """
    communities, members = _memberships(session, community_ids)
    if len(communities) == 0:
        return {}
    community_ids_arr, row = np.unique(communities, return_inverse=True)
    _member_ids, col = np.unique(members, return_inverse=True)
    x = incidence(row, col, len(community_ids_arr), len(_member_ids))
    interest = None
    if community_ids is not None:
        interest = np.flatnonzero(np.isin(community_ids_arr, np.asarray(list(community_ids), dtype=np.int64)))
    i, j, shared = shared_pairs(x, interest=interest, min_shared=min_shared)
    if len(i) == 0:
        return {}
    a_ids = community_ids_arr[i]
    b_ids = community_ids_arr[j]
    involved = sorted({int(v) for v in np.concatenate([a_ids, b_ids])})
    if community_ids is None:
        # Every membership was loaded: the row sums are the community sizes.
        row_sizes = np.asarray(x.sum(axis=1)).ravel()
        sizes = {int(cid): int(s) for cid, s in zip(community_ids_arr, row_sizes, strict=True)}
    else:
        sizes = _sizes(session, involved)
    known = platform_universes(session) if universes is None else universes
    counts = {(int(a), int(b)): int(n) for a, b, n in zip(a_ids, b_ids, shared, strict=True)}
    return overlaps_from_counts(counts, sizes, _platforms(session, involved), known)


def shared_with_all(session: Session, community_ids: Collection[int], min_shared: int = 1,
                    ) -> dict[tuple[int, int], int]:
    """Members shared by every pair with a side in ``community_ids`` (the other side any community), keyed
    ``(min_id, max_id)``: the ``shared`` figure of :func:`member_overlaps` for the same pairs, counted by the
    database from the members of those communities only (an incremental cycle: the few communities that
    shut down or renamed since the last one). The (member, community) index makes each member's other
    communities one index range, so the work grows with those members' memberships, not the store's."""
    ids = sorted(set(community_ids))
    mine, other = aliased(m.Membership), aliased(m.Membership)
    out: dict[tuple[int, int], int] = {}
    for start in range(0, len(ids), 200):
        stmt = (select(mine.community_id, other.community_id, func.count())
                .join(other, other.member_id == mine.member_id)
                .where(mine.community_id.in_(ids[start:start + 200]), other.community_id != mine.community_id)
                .group_by(mine.community_id, other.community_id)
                .having(func.count() >= max(1, min_shared)))
        for a, b, shared in session.execute(stmt):
            out[(min(int(a), int(b)), max(int(a), int(b)))] = int(shared)
    return out


def shared_between(session: Session, left: Collection[int], right: Collection[int], min_shared: int = 1,
                   ) -> tuple[dict[tuple[int, int], int], dict[int, int]]:
    """Members shared by the pairs with one side in ``left`` and the other in ``right`` (keyed ``(min_id,
    max_id)``, at least ``min_shared``), and the member count of every community read. Only the memberships
    of those communities are read."""
    wanted = sorted(set(left) | set(right))
    if not set(left) or not set(right):
        return {}, {}
    rows: list[tuple[int, int]] = []
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        rows.extend((int(c), int(mb)) for c, mb in session.execute(
            select(m.Membership.community_id, m.Membership.member_id).where(m.Membership.community_id.in_(chunk))))
    if not rows:
        return {}, {}
    arr = np.asarray(rows, dtype=np.int64)
    community_ids_arr, row = np.unique(arr[:, 0], return_inverse=True)
    _member_ids, col = np.unique(arr[:, 1], return_inverse=True)
    x = incidence(row, col, len(community_ids_arr), len(_member_ids))
    sizes = {int(cid): int(s) for cid, s in zip(community_ids_arr, np.asarray(x.sum(axis=1)).ravel(), strict=True)}
    is_left = np.isin(community_ids_arr, np.asarray(sorted(set(left)), dtype=np.int64))
    is_right = np.isin(community_ids_arr, np.asarray(sorted(set(right)), dtype=np.int64))
    i, j, shared = shared_pairs(x, interest=np.flatnonzero(is_left), min_shared=min_shared)
    keep = (is_left[i] & is_right[j]) | (is_right[i] & is_left[j])
    a_ids, b_ids, shared = community_ids_arr[i[keep]], community_ids_arr[j[keep]], shared[keep]
    return {(int(a), int(b)): int(s) for a, b, s in zip(a_ids.tolist(), b_ids.tolist(), shared.tolist(),
                                                        strict=True)}, sizes


def overlaps_from_counts(counts: Mapping[tuple[int, int], int], sizes: Mapping[int, int],
                         platforms: Mapping[int, str], universes: Mapping[str, int],
                         ) -> dict[tuple[int, int], PairOverlap]:
    """The statistics of :func:`member_overlaps` from shared counts (keyed ``(min_id, max_id)``), community
    sizes (member counts) and platforms: the same figures for the same pairs."""
    if not counts:
        return {}
    keys = list(counts)

    def universe(a: int, b: int) -> int:
        return sum(universes.get(p, 0) for p in {platforms.get(a, ""), platforms.get(b, "")})

    shared = np.asarray([counts[k] for k in keys], dtype=np.int64)
    size_a = np.asarray([sizes[a] for a, _ in keys], dtype=np.int64)
    size_b = np.asarray([sizes[b] for _, b in keys], dtype=np.int64)
    uni = np.asarray([universe(a, b) for a, b in keys], dtype=np.int64)
    overlap, jaccard, significance = pair_metrics(shared, size_a, size_b, uni)
    return {(a, b): PairOverlap(a=a, b=b, shared=int(shared[k]), size_a=int(size_a[k]), size_b=int(size_b[k]),
                                overlap_coefficient=float(overlap[k]), jaccard=float(jaccard[k]),
                                significance=float(significance[k]))
            for k, (a, b) in enumerate(keys)}


def members_first_seen_after(session: Session, target_id: int, source_id: int, since: datetime) -> int:
    """Members first seen in ``target`` after ``since`` who are also members of ``source``:
    people who turned up in B after A went dark, and had been in A."""
    in_source = aliased(m.Membership)
    stmt = (
        select(func.count())
        .select_from(m.Membership)
        .join(in_source, (in_source.member_id == m.Membership.member_id) & (in_source.community_id == source_id))
        .where(m.Membership.community_id == target_id, m.Membership.first_seen > since)
    )
    return int(session.scalar(stmt) or 0)


def member_ids_of(session: Session, ids: Iterable[int]) -> dict[int, set[int]]:
    """The member ids of each of the given communities."""
    out: dict[int, set[int]] = defaultdict(set)
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), 500):
        for cid, mid in session.execute(select(m.Membership.community_id, m.Membership.member_id)
                                        .where(m.Membership.community_id.in_(ordered[start:start + 500]))):
            out[cid].add(mid)
    return out


def arrivals_after(session: Session, pairs: list[tuple[int, int]],
                   ended: Mapping[int, datetime]) -> dict[tuple[int, int], int]:
    """For each (A, B): members of A first seen in B after A ended (``ended[A]``: its shutdown or rename).
    The same figure as :func:`members_first_seen_after`, for many pairs with one read of their memberships
    (of B's, only those first seen after the earliest of those ends)."""
    if not pairs:
        return {}
    in_source = member_ids_of(session, {s for s, _ in pairs})
    floor = min(ended[s] for s, _ in pairs)
    late: dict[int, dict[int, datetime]] = defaultdict(dict)
    targets = sorted({t for _, t in pairs})
    for start in range(0, len(targets), 500):
        for cid, mid, first in session.execute(
                select(m.Membership.community_id, m.Membership.member_id, m.Membership.first_seen)
                .where(m.Membership.community_id.in_(targets[start:start + 500]), m.Membership.first_seen > floor)):
            late[cid][mid] = first
    out = {}
    for source, target in pairs:
        since = ended[source]
        arrived = {mid for mid, first in late.get(target, {}).items() if first > since}
        out[(source, target)] = len(arrived & in_source.get(source, set()))
    return out


def pair_overlaps(session: Session, pairs: set[tuple[int, int]], platform_of: Mapping[int, str], min_shared: int,
                  universes: Mapping[str, int] | None = None) -> dict[tuple[int, int], PairOverlap]:
    """Shared members of a few chosen pairs, keyed ``(min_id, max_id)``, those sharing at least
    ``min_shared`` (the same statistics as :func:`member_overlaps`)."""
    if not pairs:
        return {}
    members = member_ids_of(session, {c for p in pairs for c in p})
    counts = {(a, b): n for a, b in {(min(p), max(p)) for p in pairs}
              if (n := len(members[a] & members[b])) >= min_shared}
    sizes = {cid: len(ids) for cid, ids in members.items()}
    known = platform_universes(session) if universes is None else universes
    return overlaps_from_counts(counts, sizes, platform_of, known)


def handle_overlaps(session: Session, pairs: set[tuple[int, int]], platform_of: Mapping[int, str], min_shared: int,
                    universes: Mapping[str, int] | None = None) -> dict[tuple[int, int], PairOverlap]:
    """Shared members of directed pairs on different platforms, matched by handle pseudonym (the same
    handle gives the same keyed pseudonym on every platform). Sizes are the members with a handle; the
    universe is the two platforms' (reported or seen) populations, as for :func:`member_overlaps`."""
    if not pairs:
        return {}
    ids = sorted({c for p in pairs for c in p})
    handles: dict[int, set[str]] = defaultdict(set)
    for start in range(0, len(ids), 500):
        for cid, hp in session.execute(select(m.Membership.community_id, m.Member.handle_pseudonym)
                                       .join(m.Member, m.Member.id == m.Membership.member_id)
                                       .where(m.Membership.community_id.in_(ids[start:start + 500]),
                                              m.Member.handle_pseudonym.is_not(None))):
            handles[int(cid)].add(str(hp))
    counts = {(a, b): n for a, b in sorted(pairs) if (n := len(handles[a] & handles[b])) >= min_shared}
    sizes = {cid: len(handles[cid]) for cid in ids}
    known = platform_universes(session) if universes is None else universes
    return overlaps_from_counts(counts, sizes, platform_of, known)
