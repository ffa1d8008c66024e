"""``resurface search`` and ``resurface reindex``."""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cli.support import FormatOption, OutputFormat, console, emit, progress_iter, state
from model.errors import UsageError
from search.base import MARK_END, MARK_START, SearchRequest
from search.indexer import drain, open_backend, reindex, total_documents
from search.query import parse_query, with_filters
from store import audit

log = logging.getLogger(__name__)
MAX_LIMIT = 500


def _table_snippet(snippet: str) -> str:
    """Rich markup for a snippet: matches in bold, everything else escaped (texts contain [brackets])."""
    parts = re.split(f"({re.escape(MARK_START)}.*?{re.escape(MARK_END)})", snippet.replace("\n", " "))
    out = []
    for part in parts:
        if part.startswith(MARK_START) and part.endswith(MARK_END):
            out.append(f"[bold yellow]{escape(part[len(MARK_START):-len(MARK_END)])}[/bold yellow]")
        else:
            out.append(escape(part))
    return "".join(out)


def search_command(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Lucene/Kibana syntax, e.g. 'text:\"nuovo canale\" AND "
                                         "platform:telegram AND date:[2026-01-01 TO *]'.")],
    platform: Annotated[str | None, typer.Option(help="Only this platform.")] = None,
    community: Annotated[str | None, typer.Option(help="Only this community (handle or id).")] = None,
    since: Annotated[str | None, typer.Option(help="From this date (YYYY-MM-DD, ISO time or now-7d).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to and including this date.")] = None,
    limit: Annotated[int, typer.Option(help="Results per page.")] = 20,
    page: Annotated[int, typer.Option(help="Page number, from 1.")] = 1,
    sort: Annotated[str, typer.Option(help="newest or relevance.")] = "newest",
    fmt: OutputFormat = FormatOption,
) -> None:
    """Search posts and communities (every search is written to the audit log)."""
    if sort not in ("newest", "relevance"):
        raise UsageError(f"--sort must be newest or relevance, not {sort!r}")
    if not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_LIMIT}")
    if page < 1:
        raise UsageError("--page starts at 1")
    node = with_filters(parse_query(query), platform=platform, community=community, since=since, until=until)
    app = state(ctx).app
    backend = open_backend(app.settings)
    try:
        pending = drain(app.store, backend, app.settings.search.batch_size)
        if pending.indexed or pending.deleted:
            backend.refresh()
        if pending.unavailable:
            log.warning("%d documents are waiting to be indexed", pending.remaining)
        details: dict[str, Any] = {"query": query, "platform": platform, "community": community, "since": since,
                                   "until": until, "limit": limit, "page": page, "sort": sort,
                                   "backend": backend.name}
        with app.store.session() as session:
            audit.record(session, "search", target=query, details=details)
        result = backend.search(SearchRequest(node, limit=limit, offset=(page - 1) * limit, sort=sort))  # type: ignore[arg-type]
    finally:
        backend.close()
    rows = [h.as_json() for h in result.hits]
    if fmt == OutputFormat.json:
        emit([{"total": result.total, "total_is_lower_bound": result.total_is_lower_bound, "page": page,
               "limit": limit, "hits": rows}], fmt)
        return
    if not rows:
        console.print(f"[dim]no results ({result.total} total)[/dim]")
        return
    table = Table(title=f"{result.total}{'+' if result.total_is_lower_bound else ''} results, page {page}")
    for col in ("date", "platform", "community", "type", "snippet", "url"):
        table.add_column(col, overflow="fold")
    for hit in result.hits:
        table.add_row(hit.date.strftime("%Y-%m-%d %H:%M"), hit.platform, escape(hit.community or str(hit.community_id)),
                      hit.doc_type, _table_snippet(hit.snippet or hit.title or ""), escape(hit.url or ""))
    console.print(table)


def reindex_command(
    ctx: typer.Context,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Rebuild the search index from the store (beside the live one, then swapped in)."""
    app = state(ctx).app
    backend = open_backend(app.settings)
    try:
        total = total_documents(app.store)
        with progress_iter(total, f"reindexing ({backend.name})") as bar:
            count = reindex(app.store, backend, app.settings.search.batch_size, bar.advance)
        with app.store.session() as session:
            audit.record(session, "reindex", details={"backend": backend.name, "documents": count})
    finally:
        backend.close()
    if fmt == OutputFormat.json:
        emit([{"backend": backend.name, "documents": count}], fmt)
    else:
        console.print(f"reindexed {count} documents into the {backend.name} index")
