"""*announcement*: a post linking A and B.

A link from A to B is weak on its own (communities promote each other); with successor language
("gruppo di riserva", "we moved") it is the strongest signal we have. A post in B pointing back at A
counts a little less. An announcement far from A's end (its shutdown or rename, else its last post)
counts less, down to half. A directory channel that links to dozens of communities must not make all
of them successors, so the value is divided by how many distinct communities the post, and the posting
community, link to.

Its pairs (:func:`find_linked_pairs`): every pair a link joins (the announcements stage read the posts),
and every community first found through a link in another (a lead, a private invite among them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from detect.signals.base import PairEvidence, Signal, SignalPlugin, investigator, iso, ngo
from model.privacy import Shape
from store import models as m

if TYPE_CHECKING:
    from detect.pipeline import Context

POST_FANOUT_FREE = 2  # a post may name a main and a backup group without being a directory
COMMUNITY_FANOUT_FREE = 8
MAX_ITEMS = 10


def announcement_signal(ev: PairEvidence, window_days: int) -> Signal:
    best = 0.0
    items: list[dict[str, Any]] = []
    reference = ev.source_event_at or ev.source_last_post_at
    for ann in ev.announcements:
        base = 1.0 if ann.phrases else 0.5
        if not ann.in_source:
            base *= 0.8
        closeness = 1.0
        if reference is not None and ann.created_at is not None:
            gap = abs((reference - ann.created_at).total_seconds()) / 86400
            closeness = 1.0 if gap <= window_days else max(0.5, window_days / gap)
        discount = (min(1.0, POST_FANOUT_FREE / max(ann.post_fanout, 1))
                    * min(1.0, COMMUNITY_FANOUT_FREE / max(ann.community_fanout, 1)))
        value = base * closeness * discount
        best = max(best, value)
        items.append({"post_url": ann.post_url, "created_at": iso(ann.created_at), "phrases": list(ann.phrases),
                      "posted_in": "source" if ann.in_source else "target",
                      "post_links_to_communities": ann.post_fanout,
                      "community_links_to_communities": ann.community_fanout, "score": round(value, 4)})
    items.sort(key=lambda i: -i["score"])
    return Signal("announcement", best, items[:MAX_ITEMS])


def find_linked_pairs(ctx: Context) -> None:
    ctx.pairs |= ctx.links.pairs
    for cid, origin in ctx.session.execute(select(m.Community.id, m.Community.origin_community_id).where(
            m.Community.watch_state == "candidate", m.Community.origin_community_id.is_not(None))):
        if origin is not None and ctx.touched(origin, cid):
            ctx.pairs.add((origin, cid))


SIGNAL = SignalPlugin(
    name="announcement", weighted=True,
    evidence_fields={
        **ngo(Shape.TIME, "created_at"),
        **ngo(Shape.NUMBER, "post_links_to_communities", "community_links_to_communities", "score"),
        # the post's address and its wording identify the post; "source"/"target" is not allow-listed
        **investigator(Shape.NAME, "post_url", "phrases", "posted_in"),
    },
    compute=lambda ev, settings: announcement_signal(ev, settings.timing_window_days),
    find=find_linked_pairs,
)
