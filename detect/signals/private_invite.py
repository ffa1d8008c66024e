"""*private_invite*: B is a private invite, named with what its public page shows (never joined).

It carries no weight: the announcement carries the pair; this names the invite for the person who
decides whether to act. The invite's address, title, description and member count are
investigator-only.
"""

from __future__ import annotations

from detect.signals.base import PairEvidence, Signal, SignalPlugin, investigator, ngo
from model.privacy import Shape


def private_invite_signal(ev: PairEvidence) -> Signal | None:
    if ev.target_invite is None:
        return None
    return Signal("private_invite", 1.0, [dict(ev.target_invite)])


SIGNAL = SignalPlugin(
    name="private_invite", weighted=False,
    # what detect.cycle.invite_details reads from the invite's community row and its snapshots
    evidence_fields={
        **ngo(Shape.NAME, "reason"),
        **ngo(Shape.TIME, "observed_at"),
        **investigator(Shape.NAME, "invite_url", "invite_title", "invite_description", "source_url"),
        **investigator(Shape.NUMBER, "invite_members", "needs_human", "page_read"),
    },
    compute=lambda ev, settings: private_invite_signal(ev),
)
