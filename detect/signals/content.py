"""*content*: what B reposts of A's (pictures by PDQ hash, near-duplicate texts, forwards from A).

Each repost or near-duplicate adds evidence with diminishing returns; a forward counts twice (it
names A explicitly). The first evidence item holds the counts; up to ten examples follow, each the
dictionary :mod:`detect.content` builds (``{post_url, matched_post_url, kind, distance, at}``).

Its pairs (:func:`find_content_pairs`): a community of interest and any other whose posts repost its
pictures or texts or forward its posts, found without any link or name between them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from detect import changes as ch
from detect.content import MediaLinks, content_overlaps
from detect.signals.base import ContentEvidence, PairEvidence, Signal, SignalPlugin, investigator, ngo
from model.privacy import Shape

if TYPE_CHECKING:
    from detect.pipeline import Context

MAX_EXAMPLES = 10


def content_signal(ev: PairEvidence) -> Signal:
    c = ev.content
    if c is None:
        return Signal("content", 0.0, [])
    weight = c.media_matches + c.text_matches + 2 * c.forwards
    value = 1 - math.exp(-weight / 2) if weight else 0.0
    evidence: list[dict[str, Any]] = [{"media_matches": c.media_matches, "text_matches": c.text_matches,
                                       "forwards_from_source": c.forwards}]
    evidence.extend(c.examples[:MAX_EXAMPLES])
    return Signal("content", value, evidence)


def find_content_pairs(ctx: Context) -> None:
    """Pairs with reposted pictures, near-duplicate texts or forwards, a side of interest. Near-duplicate
    images found by earlier cycles are kept (kv), so an incremental cycle range-searches only new images,
    around the communities it looks at."""
    media_links = ch.load_media_links(ctx.session) if ctx.dirty is not None else MediaLinks()
    if ctx.dirty is None:
        use_all = len(ctx.interest) * 2 > len(ctx.communities)
        found = content_overlaps(ctx.session, None if use_all else ctx.interest, media_links=media_links)
    else:
        found = content_overlaps(ctx.session, around=ctx.focus, media_links=media_links)
    ch.save_media_links(ctx.session, media_links)
    for (s, t), co in found.items():
        if s not in ctx.interest or not ctx.touched(s, t):
            continue
        ctx.content[(s, t)] = ContentEvidence(co.media_matches, co.text_matches, co.forwards,
                                              tuple(co.examples[:MAX_EXAMPLES]))
        ctx.pairs.add((s, t))


SIGNAL = SignalPlugin(
    name="content", weighted=True,
    evidence_fields={
        **ngo(Shape.NUMBER, "media_matches", "text_matches", "forwards_from_source", "distance"),
        **ngo(Shape.NAME, "kind"),
        **ngo(Shape.TIME, "at"),
        **investigator(Shape.NAME, "post_url", "matched_post_url"),
    },
    compute=lambda ev, settings: content_signal(ev),
    find=find_content_pairs,
)
