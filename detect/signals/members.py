"""*members*: the members A and B share (keyed pseudonyms; only counts leave this module).

The overlap coefficient says what share of the smaller community came along; it counts fully only with
enough shared members and when the overlap is unlikely by chance (hypergeometric significance), and
members first seen in B after A went dark add to it.
"""

from __future__ import annotations

from detect.signals.base import PairEvidence, Signal, SignalPlugin, ngo
from model.privacy import Shape

MIN_SHARED_FOR_FULL = 8
CHANCE_SIGNIFICANCE = 2.0  # -log10 p below this: could be chance


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


SIGNAL = SignalPlugin(
    name="members", weighted=True,
    evidence_fields=ngo(Shape.NUMBER, "shared_members", "source_members", "target_members", "overlap_coefficient",
                        "jaccard", "significance_neg_log10_p", "first_seen_in_target_after_event"),
    compute=lambda ev, settings: members_signal(ev),
)
