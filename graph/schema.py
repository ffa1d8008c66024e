"""The graph's vocabulary: node and edge attributes with their types, edge types, colours, time format.

Every export writes exactly the attributes listed here, in this order. The lists are a whitelist:
anything else a node or edge might carry never leaves the process, which is how exports stay
pseudonymous (no post text, no descriptions, no member handles) whatever the builder grows later.
Attribute names are part of the export format: analysts' Gephi/Cytoscape styles refer to them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any


class EdgeType(StrEnum):
    SHARED_MEMBERS = "shared_members"  # symmetric: stored once, from the lower to the higher node id
    REPOSTED_CONTENT = "reposted_content"  # content first seen in source, later in target
    FORWARDS = "forwards"  # posts in target forwarded from source (content flows source → target)
    LINKS = "links"  # posts in source link to / announce target
    MIGRATION = "migration"  # detector candidate: source's audience moving to target
    RENAME = "rename"  # self-loop: the community changed handle or title
    MEMBER_OF = "member_of"  # pseudonymous member → community (only with --members)


COMMUNITY_EDGE_TYPES = tuple(t for t in EdgeType if t != EdgeType.MEMBER_OF)

# Dates are ISO 8601 text (UTC, seconds: xsd:dateTime, sorts as text) under their own name, and a
# typed twin ``<name>_unix`` (seconds since 1970-01-01 UTC, "long") for tools that filter numbers:
# neither GraphML nor GEXF has a date attribute type (GEXF types the node/edge start and end through
# the graph's ``timeformat="datetime"``; Cytoscape and yEd have no date column type at all).
NODE_DATE_FIELDS = ("first_post", "last_post", "first_seen", "last_seen", "start", "end")
EDGE_DATE_FIELDS = ("first_at", "last_at", "start")
UNIX_SUFFIX = "_unix"

# GEXF attribute types ("string", "long", "double", "boolean"); GraphML/CSV/JSON follow the Python values.
NODE_FIELDS: dict[str, str] = {
    "label": "string",
    "name": "string",  # display name (= label): the column Cytoscape labels nodes with
    "node_type": "string",  # community or member
    "platform": "string",
    "handle": "string",
    "title": "string",
    "url": "string",  # the community's public address ("" when unknown, and for member nodes)
    "status": "string",
    "gone": "boolean",  # status is banned, deleted, private or removed
    "kind": "string",
    "watch_state": "string",
    "member_count": "long",
    "case": "string",
    "labels": "string",  # ";"-joined
    "events": "string",  # ";"-joined "kind@time", oldest first
    "first_post": "string",  # the first post's own date
    "last_post": "string",
    "first_seen": "string",  # first crawl that saw it
    "last_seen": "string",
    "start": "string",  # lifetime start (GEXF: the node's start attribute)
    "end": "string",  # lifetime end: last post, or shutdown when gone (GEXF: end attribute)
    **{f"{name}{UNIX_SUFFIX}": "long" for name in NODE_DATE_FIELDS},
    "degree": "long",
    "in_degree": "long",
    "out_degree": "long",
    "weighted_degree": "double",
    "betweenness": "double",
    "cluster": "long",
}

EDGE_FIELDS: dict[str, str] = {
    "edge_type": "string",
    "weight": "double",
    "symmetric": "boolean",
    "shared": "long",
    "overlap_coefficient": "double",
    "jaccard": "double",
    "significance": "double",
    "media_matches": "long",
    "text_matches": "long",
    "content_forwards": "long",
    "count": "long",
    "mentions": "long",
    "announcements": "long",
    "score": "double",
    "level": "string",
    "state": "string",
    "old_handle": "string",
    "new_handle": "string",
    "old_title": "string",
    "new_title": "string",
    "first_at": "string",
    "last_at": "string",
    "start": "string",
    **{f"{name}{UNIX_SUFFIX}": "long" for name in EDGE_DATE_FIELDS},
}

#: Attributes written as XML attributes of <node>/<edge> in GEXF rather than <attvalue>s.
GEXF_NODE_XML_ATTRS = ("label", "start", "end")
GEXF_EDGE_XML_ATTRS = ("weight", "start")

PLATFORM_COLOURS: dict[str, str] = {
    "telegram": "#2aabee",
    "reddit": "#ff4500",
    "discourse": "#2e7d32",
    "phpbb": "#6a1b9a",
    "xenforo": "#e6a100",
    "discord": "#5865f2",
    "whatsapp": "#25d366",
    "signal": "#8e44ad",
    "facebook": "#1a3e8c",
    "web": "#795548",
    "other": "#607d8b",
    "member": "#bdbdbd",
}
DEFAULT_COLOUR = "#607d8b"

EDGE_COLOURS: dict[str, str] = {
    EdgeType.SHARED_MEMBERS: "#4c72b0",
    EdgeType.REPOSTED_CONTENT: "#dd8452",
    EdgeType.FORWARDS: "#55a868",
    EdgeType.LINKS: "#8172b3",
    EdgeType.MIGRATION: "#c44e52",
    EdgeType.RENAME: "#937860",
    EdgeType.MEMBER_OF: "#c7c7c7",
}


def colour_of(platform: str | None) -> str:
    return PLATFORM_COLOURS.get(platform or "", DEFAULT_COLOUR)


def rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def iso(value: datetime | None) -> str | None:
    """The one time format of the graph: UTC, seconds, ``+00:00`` (xsd:dateTime; sorts as text)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_iso(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def unix_seconds(value: str) -> int:
    return int(parse_iso(value).timestamp())


def with_unix_times(attrs: dict[str, Any]) -> dict[str, Any]:
    """``attrs`` plus the typed ``<date>_unix`` twin of every ISO date it holds."""
    out = dict(attrs)
    for name in (*NODE_DATE_FIELDS, *EDGE_DATE_FIELDS):
        value = attrs.get(name)
        if isinstance(value, str) and value:
            out[f"{name}{UNIX_SUFFIX}"] = unix_seconds(value)
    return out


#: Statuses drawn as gone (same set as ``model.records.GONE_STATUSES``, as text for exports).
GONE_STYLE_NOTE = "gone (banned, deleted, private or removed)"


def node_row(data: dict[str, Any]) -> dict[str, Any]:
    """The exportable attributes of a node (whitelisted, ``None`` dropped), in schema order."""
    return {k: data[k] for k in NODE_FIELDS if data.get(k) is not None}


def edge_row(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in EDGE_FIELDS if data.get(k) is not None}
