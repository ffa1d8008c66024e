"""The one interface every search backend implements, and the records that cross it.

The search index is derived data: the store is the system of record, and any backend can be rebuilt
from it (`resurface reindex`). Documents therefore carry idempotent keys (``post:<id>``,
``community:<id>``): sending the same document twice is an overwrite, never a duplicate, which is
what lets the indexer retry a batch after an outage without bookkeeping inside the backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from model.errors import ResurfaceError
from model.names import fold_words, normalise_name
from search.query import Node

DocType = Literal["post", "community"]
Sort = Literal["newest", "relevance"]

#: Highlight markers around matched words in snippets (both backends use the same ones).
MARK_START = "<mark>"
MARK_END = "</mark>"


class SearchError(ResurfaceError):
    """A search or indexing request the backend refused (bad request, mapping conflict)."""


class BackendUnavailable(SearchError):
    """The backend cannot be reached now; the outbox keeps the backlog until it can.

    ``acknowledged`` lists keys the backend had accepted before it went away mid-batch.
    """

    def __init__(self, message: str, acknowledged: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.acknowledged = frozenset(acknowledged)


def doc_key(doc_type: str, doc_id: int) -> str:
    return f"{doc_type}:{doc_id}"


def sort_key(doc_type: str, doc_id: int) -> int:
    """A total order shared by both backends for ties on date: posts and communities interleave."""
    return doc_id * 2 + (1 if doc_type == "community" else 0)


@dataclass(frozen=True, slots=True)
class Doc:
    """One searchable document, built from the store by :mod:`search.documents`."""

    doc_type: DocType
    doc_id: int
    platform: str
    community_id: int
    community: str | None  # handle, lower case
    community_title: str | None
    date: datetime
    text: str | None
    title: str | None
    url: str | None
    author: str | None = None  # member pseudonym, never a raw id
    links: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()
    has_media: bool = False
    sha256: tuple[str, ...] = ()
    pdq: tuple[str, ...] = ()
    status: str | None = None
    kind: str | None = None

    @property
    def key(self) -> str:
        return doc_key(self.doc_type, self.doc_id)

    @property
    def sort_key(self) -> int:
        return sort_key(self.doc_type, self.doc_id)

    @property
    def title_key(self) -> str:
        """The title's words folded as detection folds names (look-alikes, accents, leetspeak)."""
        return fold_words(self.title)

    @property
    def community_keys(self) -> tuple[str, ...]:
        """The community's title and handle as detection's name keys (``community:`` matches these)."""
        keys = (normalise_name(self.community_title), normalise_name(self.community))
        return tuple(dict.fromkeys(k for k in keys if k))

    def source(self) -> dict[str, Any]:
        """The JSON body stored in Elasticsearch (and the shape of ``--format json`` hits)."""
        return {
            "doc_type": self.doc_type, "doc_id": self.doc_id, "sort_key": self.sort_key,
            "platform": self.platform, "community_id": self.community_id, "community": self.community,
            "community_title": self.community_title, "date": self.date.isoformat(), "text": self.text,
            "title": self.title, "url": self.url, "author": self.author, "links": list(self.links),
            "domains": list(self.domains), "has_media": self.has_media, "sha256": list(self.sha256),
            "pdq": list(self.pdq), "status": self.status, "kind": self.kind,
            "title_key": self.title_key, "community_keys": list(self.community_keys),
        }


@dataclass(frozen=True, slots=True)
class Action:
    """Index ``doc`` (upsert) or delete the document ``key`` (when the store no longer has it)."""

    key: str
    doc: Doc | None  # None = delete


@dataclass(frozen=True, slots=True)
class ApplyResult:
    acknowledged: frozenset[str]
    failed: dict[str, str] = field(default_factory=dict)  # key -> reason (kept in the outbox)


@dataclass(frozen=True, slots=True)
class Hit:
    key: str
    doc_type: str
    doc_id: int
    platform: str
    community: str | None
    community_id: int
    date: datetime
    url: str | None
    title: str | None
    snippet: str
    score: float | None = None

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "type": self.doc_type, "id": self.doc_id, "platform": self.platform,
                "community": self.community, "community_id": self.community_id, "date": self.date.isoformat(),
                "url": self.url, "title": self.title, "snippet": self.snippet, "score": self.score}


@dataclass(frozen=True, slots=True)
class SearchRequest:
    query: Node
    limit: int = 20
    offset: int = 0
    sort: Sort = "newest"


@dataclass(frozen=True, slots=True)
class SearchPage:
    total: int
    hits: list[Hit]
    total_is_lower_bound: bool = False  # True: at least ``total`` matches (counting stopped there)


class Rebuild(ABC):
    """A fresh index filled beside the live one, swapped in by :meth:`commit` (alias swap / file rename)."""

    @abstractmethod
    def apply(self, docs: Sequence[Doc]) -> None: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def abort(self) -> None: ...


class SearchBackend(ABC):
    """Embedded (SQLite FTS5) or Elasticsearch. Implementations must be idempotent per document key."""

    name: str

    @abstractmethod
    def ensure(self) -> None:
        """Create what the backend needs (tables, index template, index and alias); cheap when done."""

    @abstractmethod
    def apply(self, actions: Sequence[Action]) -> ApplyResult:
        """Upsert/delete documents; report which keys the backend acknowledged.

        Raises :class:`BackendUnavailable` when it cannot be reached; keys acknowledged before the
        failure are carried on the exception so the caller can still retire them.
        """

    @abstractmethod
    def search(self, request: SearchRequest) -> SearchPage: ...

    @abstractmethod
    def begin_rebuild(self) -> Rebuild: ...

    def refresh(self) -> None:
        """Make recent writes visible to searches (Elasticsearch refreshes about once a second anyway)."""
        return None

    def expunge(self) -> None:
        """Physically drop what replaced or deleted documents leave behind (old index segments, free
        pages, write-ahead log), so a purged post text is gone from the index files and not merely
        hidden. Called by the drain after it replaced the documents of purged posts."""
        return None

    def count(self) -> int:
        return self.search(SearchRequest(query=_match_all(), limit=0)).total

    def close(self) -> None:
        return None


def _match_all() -> Node:
    from search.query import MatchAll

    return MatchAll()
