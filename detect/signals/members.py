"""*members*: the members A and B share (keyed pseudonyms; only counts leave this module).

The overlap coefficient says what share of the smaller community came along; it counts fully only with
enough shared members and when the overlap is unlikely by chance (hypergeometric significance), and
members first seen in B after A went dark add to it.

Its pairs (:func:`find_member_pairs`) are found after every other signal's: shared members make a pair
of every neighbour of a community that shut down or renamed, but of a live community only with the
evidence another signal found (members alone cannot make a live community's neighbour a migration).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from detect.overlap import (
    PairOverlap,
    arrivals_after,
    handle_overlaps,
    member_overlaps,
    overlaps_from_counts,
    pair_overlaps,
    shared_between,
    shared_with_all,
)
from detect.signals.base import MemberEvidence, PairEvidence, Signal, SignalPlugin, ngo
from model.privacy import Shape

if TYPE_CHECKING:
    from detect.pipeline import Context

MIN_SHARED_FOR_FULL = 8
CHANCE_SIGNIFICANCE = 2.0  # -log10 p below this: could be chance
#: Pairs sharing fewer members than this are not worth a candidate on members alone.
MIN_SHARED = 3
#: A pair with no evidence but shared members is scored only if the members signal reaches this.
MEMBER_ONLY_FLOOR = 0.3


def members_signal(ev: PairEvidence) -> Signal:
    mem = ev.members
    if mem is None or mem.shared <= 0:
        return Signal("members", 0.0, [])
    count_factor = min(1.0, mem.shared / MIN_SHARED_FOR_FULL)
    chance = 1.0 if mem.significance >= CHANCE_SIGNIFICANCE else max(0.3, mem.significance / CHANCE_SIGNIFICANCE)
    value = min(1.0, mem.overlap_coefficient * 1.5) * count_factor * chance
    if mem.first_seen_after:
        value = min(1.0, value + 0.2 * (mem.first_seen_after / mem.shared) * count_factor * chance)
    return Signal("members", value, [{
        "shared_members": mem.shared, "source_members": mem.size_a, "target_members": mem.size_b,
        "overlap_coefficient": round(mem.overlap_coefficient, 4), "jaccard": round(mem.jaccard, 4),
        "significance_neg_log10_p": round(mem.significance, 2),
        "first_seen_in_target_after_event": mem.first_seen_after,
    }])


def members_value(ov: PairOverlap) -> float:
    """The members signal of a pair without the arrivals bonus (cheap; used to skip noise pairs)."""
    return members_signal(PairEvidence(ov.a, ov.b, members=MemberEvidence(
        ov.shared, ov.size_a, ov.size_b, ov.overlap_coefficient, ov.jaccard, ov.significance))).score


def members_bound(shared: np.ndarray, size_a: np.ndarray, size_b: np.ndarray) -> np.ndarray:
    """Per pair, an upper bound of :func:`members_value` from the counts alone: the members signal with its
    chance factor at its most (1), so a pair below the floor here is below it whatever its significance."""
    smaller = np.minimum(size_a, size_b)
    with np.errstate(divide="ignore", invalid="ignore"):
        overlap = np.where(smaller > 0, shared / smaller, 0.0)
    # a hair above, so that rounding never drops a pair the exact value would keep
    return np.minimum(1.0, overlap * 1.5) * np.minimum(1.0, shared / MIN_SHARED_FOR_FULL) * (1 + 1e-9)


def find_member_pairs(ctx: Context) -> None:
    """Shared members: every neighbour of a community that shut down or renamed; for live watched ones
    only pairs another signal found (an announcement with successor wording, shared content ...), since the
    significance of every pair of a busy platform is the expensive part. Across platforms the same handle
    (a platform-independent pseudonym) on both sides is the shared member (a banned subreddit's usernames
    checking in on its forum). A pair seen through shared members only is kept when that evidence alone is
    substantial (before the bonus for arrivals after the event): on a busy platform popular accounts put
    most communities a few members apart, and most of those pairs are noise."""
    communities = ctx.communities
    platform_of = {cid: info.platform for cid, info in communities.items()}
    gone_ids = sorted(cid for cid in ctx.gone if cid in communities)
    found_by_others = {(min(p), max(p)) for p in ctx.pairs}
    overlaps = _gone_overlaps(ctx, gone_ids, found_by_others, platform_of)
    extra = set(ctx.content) | {p for p, anns in ctx.links.announcements.items()
                                if any(a.phrases for a in anns) and ctx.touched(*p)}
    extra = {p for p in extra if (min(p), max(p)) not in overlaps}
    overlaps.update(pair_overlaps(ctx.session, extra, platform_of, MIN_SHARED, ctx.universes))
    cross = {p for p in ctx.pairs if p[0] in communities and p[1] in communities
             and platform_of[p[0]] != platform_of[p[1]]}
    for cross_pair, ov in handle_overlaps(ctx.session, cross, platform_of, MIN_SHARED, ctx.universes).items():
        if cross_pair not in ctx.members:
            ctx.members[cross_pair] = MemberEvidence(ov.shared, ov.size_a, ov.size_b, ov.overlap_coefficient,
                                                     ov.jaccard, ov.significance, None)
    ctx.post_times.prefetch({cid for pair in (*overlaps, *ctx.pairs) for cid in pair})
    oriented: list[tuple[tuple[int, int], PairOverlap]] = []
    for ab, ov in overlaps.items():
        if ab not in found_by_others and members_value(ov) < MEMBER_ONLY_FLOOR:
            continue
        pair = ctx.orient(*ab)
        if pair is not None:
            oriented.append((pair, ov))
    after_end = [p for p, _ in oriented if p[0] in ctx.gone]
    arrivals = arrivals_after(ctx.session, after_end, {s: ctx.gone[s].at for s, _ in after_end})
    for pair, ov in oriented:
        size_s, size_t = (ov.size_a, ov.size_b) if pair[0] == ov.a else (ov.size_b, ov.size_a)
        ctx.members[pair] = MemberEvidence(ov.shared, size_s, size_t, ov.overlap_coefficient, ov.jaccard,
                                           ov.significance, arrivals.get(pair))
        ctx.pairs.add(pair)


def _gone_overlaps(ctx: Context, gone_ids: list[int], other_evidence: set[tuple[int, int]],
                   platform_of: Mapping[int, str]) -> dict[tuple[int, int], PairOverlap]:
    """Shared members of every pair with a side that shut down or renamed (those this cycle scores).
    ``other_evidence``: the pairs (min id, max id) with evidence besides members."""
    if not gone_ids:
        return {}
    if ctx.dirty is None:
        return member_overlaps(ctx.session, gone_ids, min_shared=MIN_SHARED, universes=ctx.universes)
    # Incremental: a gone community that changed, with everyone (counted by the database); a changed
    # community with every gone one; and the extra pairs (whose member universe moved) one by one. A pair
    # seen through members only whose members signal cannot reach the floor whatever its significance is
    # dropped before the significance is computed (the scoring would drop it; see members_bound).
    gone = set(gone_ids)
    changed_gone = sorted(gone & ctx.dirty)
    counts = shared_with_all(ctx.session, changed_gone, MIN_SHARED) if changed_gone else {}
    live = (ctx.dirty - gone) & ctx.communities.keys()
    counts.update(shared_between(ctx.session, live, gone_ids, MIN_SHARED)[0])
    sizes = ctx.member_counts
    counts = {p: n for p, n in counts.items() if ctx.touched(*p)}
    keys = list(counts)
    bound = members_bound(np.asarray([counts[p] for p in keys], dtype=np.float64),
                          np.asarray([sizes[a] for a, _ in keys], dtype=np.float64),
                          np.asarray([sizes[b] for _, b in keys], dtype=np.float64))
    counts = {p: counts[p] for p, high in zip(keys, bound.tolist(), strict=True)
              if p in other_evidence or high >= MEMBER_ONLY_FLOOR}
    overlaps = overlaps_from_counts(counts, sizes, platform_of, ctx.universes or {})
    overlaps.update(pair_overlaps(ctx.session, {p for p in ctx.extra if p[0] in gone or p[1] in gone},
                                  platform_of, MIN_SHARED, ctx.universes))
    return {p: ov for p, ov in overlaps.items() if ctx.touched(*p)}


SIGNAL = SignalPlugin(
    name="members", weighted=True,
    evidence_fields=ngo(Shape.NUMBER, "shared_members", "source_members", "target_members", "overlap_coefficient",
                        "jaccard", "significance_neg_log10_p", "first_seen_in_target_after_event"),
    compute=lambda ev, settings: members_signal(ev),
    find=find_member_pairs, discovery_order=1,  # reads the pairs the others found
)
