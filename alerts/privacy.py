"""The privacy class of every alert field: what an NGO may see, and in what form.

Evidence is redacted for NGOs by an *allow-list*, at every depth (see :func:`alerts.render.redact_for_ngo`):
a field reaches an NGO only if it is listed here with :attr:`Privacy.NGO` and its value has the listed
shape. Anything else -- post text, excerpts, post URLs, pseudonyms, row ids, raw ids, a field a new
detector adds tomorrow, a dictionary under an unlisted key -- is investigator-only by default. Lists
are never shown to an NGO; they become ``<name>_count``.

The classes themselves (:class:`Privacy`, :class:`Shape`, :class:`FieldClass`) live in :mod:`model.privacy`,
where detection's signals declare the class of every evidence field they write; they stay importable
from here. docs/privacy.md lists these classes and the tests that pin them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from model.privacy import FieldClass, Privacy, Shape


def _fields(shape: Shape, *names: str) -> dict[str, FieldClass]:
    return {name: FieldClass(Privacy.NGO, shape) for name in names}


#: Every field an NGO may see. Keys are compared case-insensitively.
NGO_FIELDS: Mapping[str, FieldClass] = {
    **_fields(Shape.NAME, "kind", "type", "name", "signal", "language", "languages", "platform", "level",
              "reason", "status", "source_name", "target_name", "source_title", "target_title",
              "source_handle", "target_handle", "matched_name", "normalized_source", "normalized_target",
              "source_platform", "target_platform"),
    **_fields(Shape.NUMBER, "score", "similarity", "shared", "shared_members", "source_members",
              "target_members", "overlap_coefficient", "jaccard", "significant", "significance",
              "significance_neg_log10_p", "first_seen_in_target_after_event", "media_matches", "text_matches",
              "forwards_from_source", "post_links_to_communities", "community_links_to_communities",
              "days_after", "window_days", "distance", "pdq_distance", "pdq_quality", "definitive",
              "failed_observations", "confirmations_needed", "from", "to", "per_day", "usual_per_day", "factor",
              "joins", "count", "evidence_count", "recovered", "pending_leads", "leads_read"),
    **_fields(Shape.TIME, "at", "created_at", "occurred_at", "observed_at", "previous_observed_at",
              "first_failed_at", "last_failed_at", "removed_at", "source_event_at", "target_started", "held_until",
              "target_surge", "first_seen", "last_seen", "since", "until", "date", "day", "recovered_at"),
    **_fields(Shape.GROUP, "match", "counts"),
}

#: Fields of the alert itself (outside the evidence) an NGO may see.
NGO_ALERT_FIELDS = frozenset({"id", "kind", "level", "score", "state", "escalations", "created_at", "updated_at",
                              "source", "target", "signals"})
#: Fields of the source/target community an NGO may see: names and the community's own link.
NGO_COMMUNITY_FIELDS = frozenset({"platform", "handle", "title", "url"})


def field_class(key: str) -> FieldClass:
    """The privacy class of an evidence field; unlisted fields are investigator-only."""
    return NGO_FIELDS.get(key.lower(), FieldClass(Privacy.INVESTIGATOR, Shape.NAME))


def is_iso_time(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def ngo_scalar_ok(key: str, value: object) -> bool:
    """Whether a scalar evidence value may be shown to an NGO under ``key``."""
    cls = field_class(key)
    if cls.privacy is not Privacy.NGO:
        return False
    if value is None:
        return cls.shape is not Shape.GROUP
    if cls.shape is Shape.NUMBER:
        return isinstance(value, bool | int | float)
    if cls.shape is Shape.NAME:
        return isinstance(value, str)
    if cls.shape is Shape.TIME:
        return isinstance(value, str) and is_iso_time(value)
    return False
