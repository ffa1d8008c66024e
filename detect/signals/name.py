"""*name*: how alike A's and B's normalised names are (after folding homoglyphs and decorations).

Below 0.7 similarity there is no evidence at all (generic words match by chance); above, it rises
linearly to 1 for identical keys.

Its pairs (:func:`find_named_pairs`): a community that shut down or renamed and the communities named most
like it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from detect.names import nearest_name_pairs
from detect.signals.base import PairEvidence, Signal, SignalPlugin, ngo
from model.privacy import Shape

if TYPE_CHECKING:
    from detect.pipeline import Context

NAME_FLOOR = 0.7


def name_signal(ev: PairEvidence) -> Signal:
    if ev.name is None:
        return Signal("name", 0.0, [])
    similarity, a, b = ev.name
    value = 0.0 if similarity < NAME_FLOOR else (similarity - NAME_FLOOR) / (1 - NAME_FLOOR)
    return Signal("name", min(1.0, value), [{"source_name": a, "target_name": b, "similarity": round(similarity, 4)}])


def find_named_pairs(ctx: Context) -> None:
    gone = [cid for cid in ctx.gone if cid in ctx.communities]
    ctx.pairs |= {p for p in nearest_name_pairs(gone, ctx.communities, ctx.names, ctx.key_of) if ctx.touched(*p)}


SIGNAL = SignalPlugin(
    name="name", weighted=True,
    evidence_fields={**ngo(Shape.NAME, "source_name", "target_name"), **ngo(Shape.NUMBER, "similarity")},
    compute=lambda ev, settings: name_signal(ev),
    find=find_named_pairs,
)
