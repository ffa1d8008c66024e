"""What every migration signal shares: the evidence of a pair (A → B) it reads, the :class:`Signal` it
returns, and the :class:`MigrationSignal` protocol a signal plugin satisfies.

A signal plugin has a ``name`` (the signal's name in alerts and in ``detect.weights``), says whether it
is ``weighted`` (counted in the weighted mean of :func:`detect.scoring.score_pair`; an unweighted one
only names something for the person reading the alert), declares ``evidence_fields`` (every key its
evidence items may carry, with its privacy class and value shape from :mod:`model.privacy`) and computes
``score(evidence, settings)``. A signal that finds pairs of its own also satisfies :class:`PairFinder`:
the pipeline's pair discovery stage asks every such signal, in ``discovery_order``, to add the pairs it has
evidence for (and that evidence) to the cycle's context. Declaring a field here does not make it visible
to an NGO: the allow-list in :mod:`alerts.privacy` decides, and ``tests/test_signal_plugins.py`` checks that
the two agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from config.settings import DetectSettings
from model.privacy import FieldClass, Privacy, Shape

if TYPE_CHECKING:
    from detect.pipeline import Context


@dataclass(frozen=True, slots=True)
class Announcement:
    post_url: str
    created_at: datetime | None
    phrases: tuple[str, ...]  # "lang:phrase"
    post_fanout: int  # distinct communities this post links to
    community_fanout: int  # distinct communities the posting community links to
    in_source: bool = True  # posted in A (else: a post in B pointing back at A)


@dataclass(frozen=True, slots=True)
class MemberEvidence:
    shared: int
    size_a: int
    size_b: int
    overlap_coefficient: float
    jaccard: float
    significance: float
    first_seen_after: int | None = None


@dataclass(frozen=True, slots=True)
class ContentEvidence:
    media_matches: int
    text_matches: int
    forwards: int
    examples: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class PairEvidence:
    source_id: int
    target_id: int
    announcements: tuple[Announcement, ...] = ()
    name: tuple[float, str, str] | None = None  # similarity, A's name, B's name
    members: MemberEvidence | None = None
    content: ContentEvidence | None = None
    source_event: str | None = None  # shutdown, rename
    source_event_at: datetime | None = None
    source_last_post_at: datetime | None = None
    target_started_at: datetime | None = None
    target_surges: tuple[datetime, ...] = ()
    #: the surge events of B (their evidence: from, to, factor, observed_at), for the surge signal
    target_surge_details: tuple[dict[str, Any], ...] = ()
    #: B is a private invite: what its public page shows (title, description, members), never joined
    target_invite: dict[str, Any] | None = None
    #: what a plugin signal found for this pair while discovering pairs (``Context.found``), by signal name
    found: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    score: float
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "score": round(self.score, 4), "evidence": self.evidence}


@runtime_checkable
class MigrationSignal(Protocol):
    """One signal of a migration pair. Registered with :func:`detect.signals.register`."""

    @property
    def name(self) -> str: ...

    @property
    def weighted(self) -> bool: ...

    @property
    def evidence_fields(self) -> Mapping[str, FieldClass]: ...

    def score(self, ev: PairEvidence, settings: DetectSettings) -> Signal | None:
        """The signal for this pair, in [0, 1] with its evidence items; None when it has nothing to say
        (a weighted signal that returns None counts as 0 in the mean)."""
        ...


@runtime_checkable
class PairFinder(Protocol):
    """A signal that finds its own pairs. ``discover`` adds to ``ctx.pairs`` every pair (A → B, or either
    way round where it cannot tell, as shared members) it has evidence for, with that evidence: in the
    context's typed fields for the built-in signals, or under its name in ``ctx.found`` for any other (the
    pair's :class:`PairEvidence` then carries it in ``found``). In an incremental cycle it keeps to pairs
    :meth:`Context.touched <detect.pipeline.Context.touched>` accepts and gathers *all* their evidence.
    Finders run in ``discovery_order`` (lower first; a tie keeps registry order) and may read the pairs the
    earlier ones found."""

    @property
    def name(self) -> str: ...

    @property
    def discovery_order(self) -> int: ...

    def discover(self, ctx: Context) -> None: ...


@dataclass(frozen=True, slots=True)
class SignalPlugin:
    """A signal made of functions: what the built-in signal modules export as ``SIGNAL``. With ``find``
    it is also a :class:`PairFinder`."""

    name: str
    weighted: bool
    evidence_fields: Mapping[str, FieldClass]
    compute: Callable[[PairEvidence, DetectSettings], Signal | None]
    find: Callable[[Context], None] | None = None
    discovery_order: int = 0

    def score(self, ev: PairEvidence, settings: DetectSettings) -> Signal | None:
        return self.compute(ev, settings)

    def discover(self, ctx: Context) -> None:
        if self.find is not None:
            self.find(ctx)


def ngo(shape: Shape, *names: str) -> dict[str, FieldClass]:
    """Evidence fields an NGO may see (each must also be in :data:`alerts.privacy.NGO_FIELDS`)."""
    return {name: FieldClass(Privacy.NGO, shape) for name in names}


def investigator(shape: Shape, *names: str) -> dict[str, FieldClass]:
    """Evidence fields for investigators only (post URLs, texts, invite details ...)."""
    return {name: FieldClass(Privacy.INVESTIGATOR, shape) for name in names}


def iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


__all__ = ["Announcement", "ContentEvidence", "MemberEvidence", "MigrationSignal", "PairEvidence", "PairFinder",
           "Signal", "SignalPlugin", "investigator", "iso", "ngo"]
