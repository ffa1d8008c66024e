"""Search for the workspace: the same query language, index and audit entry as ``resurface search``,
plus a histogram over time and counts by platform and community (over the first results)."""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from search.base import MARK_END, MARK_START, SearchPage, SearchRequest
from search.indexer import drain, open_backend
from search.query import parse_query, query_hints
from store import audit

if TYPE_CHECKING:
    from web.app import Workspace
    from web.security import Viewer

log = logging.getLogger(__name__)
FACET_SAMPLE = 1000  # hits read for the histogram and the counts


def plain(snippet: str) -> str:
    return snippet.replace(MARK_START, "").replace(MARK_END, "")


def run_search(ws: Workspace, viewer: Viewer, query: str, *, page: int = 1, limit: int = 20,
               action: str = "search") -> dict[str, Any]:
    """Run ``query`` (raises QueryError with the CLI's caret message when it is not valid)."""
    node = parse_query(query)
    app = ws.app
    backend = open_backend(app.settings)
    try:
        pending = drain(app.store, backend, app.settings.search.batch_size)
        if pending.indexed or pending.deleted:
            backend.refresh()
        with app.store.session() as session:
            audit.record(session, action, target=query, details={"query": query, "page": page, "limit": limit,
                                                                  "backend": backend.name, "via": "web"},
                         actor=viewer.actor)
        offset = (page - 1) * limit
        # one query serves both the page and the facets while the page lies within the first results
        sample = backend.search(SearchRequest(node, limit=max(FACET_SAMPLE, limit), offset=0, sort="newest"))
        if offset + limit <= len(sample.hits) or len(sample.hits) < max(FACET_SAMPLE, limit):
            result = SearchPage(total=sample.total, hits=sample.hits[offset:offset + limit],
                                total_is_lower_bound=sample.total_is_lower_bound)
        else:
            result = backend.search(SearchRequest(node, limit=limit, offset=offset, sort="newest"))
    finally:
        backend.close()
    months = Counter(h.date.strftime("%Y-%m") for h in sample.hits)
    hits = [{**h.as_json(), "plain": plain(h.snippet or h.title or "")} for h in result.hits]
    return {
        "total": result.total, "total_is_lower_bound": result.total_is_lower_bound, "page": page, "limit": limit,
        "hits": hits,
        "histogram": sorted(months.items()),
        "histogram_max": max(months.values(), default=0),
        "by_platform": Counter(h.platform for h in sample.hits).most_common(),
        "by_community": Counter(h.community or str(h.community_id) for h in sample.hits).most_common(20),
        "sampled": len(sample.hits),
        "hints": query_hints(query),  # the CLI's hints (lower-case and/or are words, not operators)
    }


def marked(snippet: str) -> list[tuple[bool, str]]:
    """A snippet as (is_match, text) pieces."""
    parts = re.split(f"({re.escape(MARK_START)}.*?{re.escape(MARK_END)})", snippet)
    return [(p.startswith(MARK_START), p.removeprefix(MARK_START).removesuffix(MARK_END)) for p in parts if p]
