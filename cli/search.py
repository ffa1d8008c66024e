"""``resurface search`` and ``resurface reindex``."""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select

from cli.support import FormatOption, OutputFormat, console, emit_one, err_console, progress_iter, state
from config.settings import Settings
from model.errors import ResurfaceError, UsageError
from search.base import MARK_END, MARK_START, BackendUnavailable, SearchRequest
from search.indexer import drain, open_backend, reindex, total_documents
from search.query import parse_query, query_hints, with_filters
from store import audit
from store import models as m
from store.db import Store

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


def _community_names(store: Store, ids: set[int]) -> dict[int, str]:
    """A name for each community: its handle, else its title (forums have no handle), else ``#id``."""
    if not ids:
        return {}
    with store.session() as session:
        rows = session.execute(select(m.Community.id, m.Community.handle, m.Community.title)
                               .where(m.Community.id.in_(ids))).all()
    return {r.id: r.handle or r.title or f"#{r.id}" for r in rows}


def _unreachable(settings: Settings, why: str, store: Store | None = None) -> ResurfaceError:
    """One line for a search backend that cannot be reached: where, why, and what to do."""
    reasons = re.findall(r"\[Errno -?\d+\] ([^)'\"]+)", why)
    reason = reasons[-1].strip() if reasons else why.removeprefix("Elasticsearch unavailable: ")[:160]
    waiting = ""
    if store is not None:
        with store.session() as session:
            queued = session.scalar(select(func.count()).select_from(m.IndexOutbox)) or 0
        waiting = f"; {queued} documents wait in the outbox (nothing is lost)"
    where = _redacted(settings.search.es_url or "")
    return ResurfaceError(f"Elasticsearch at {where} cannot be reached ({reason}){waiting}. Start it or fix "
                          "search.es_url (or set search.backend = \"embedded\" and run `resurface reindex`)")


def _redacted(url: str) -> str:
    """``url`` without ``user:password@`` (messages must not carry secrets)."""
    return re.sub(r"(//)[^/@\s]*@", r"\1***@", url)


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
    hints = query_hints(query)
    app = state(ctx).app
    backend = open_backend(app.settings)
    try:
        pending = drain(app.store, backend, app.settings.search.batch_size)
        if pending.unavailable:
            raise _unreachable(app.settings, pending.unavailable, app.store)
        if pending.indexed or pending.deleted:
            backend.refresh()
        details: dict[str, Any] = {"query": query, "platform": platform, "community": community, "since": since,
                                   "until": until, "limit": limit, "page": page, "sort": sort,
                                   "backend": backend.name}
        with app.store.session() as session:
            audit.record(session, "search", target=query, details=details)
        try:
            result = backend.search(SearchRequest(node, limit=limit, offset=(page - 1) * limit, sort=sort))  # type: ignore[arg-type]
        except BackendUnavailable as exc:
            raise _unreachable(app.settings, str(exc), app.store) from None
    finally:
        backend.close()
    names = _community_names(app.store, {h.community_id for h in result.hits})
    rows = [{**h.as_json(), "community_name": names.get(h.community_id)} for h in result.hits]
    if fmt == OutputFormat.json:
        emit_one({"total": result.total, "total_is_lower_bound": result.total_is_lower_bound, "page": page,
                  "limit": limit, "hints": hints, "hits": rows}, fmt)
        return
    for hint in hints:
        err_console.print(f"[yellow]hint:[/yellow] {escape(hint)}", highlight=False, soft_wrap=True)
    if not rows:
        console.print(f"[dim]no results ({result.total} total)[/dim]")
        return
    table = Table(title=f"{result.total}{'+' if result.total_is_lower_bound else ''} results, page {page}")
    for col in ("date", "platform", "community", "type", "snippet", "url"):
        table.add_column(col, overflow="fold")
    for hit in result.hits:
        name = hit.community or names.get(hit.community_id) or f"#{hit.community_id}"
        table.add_row(hit.date.strftime("%Y-%m-%d %H:%M"), hit.platform, escape(name),
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
        with progress_iter(total, f"reindexing ({backend.name})", fmt) as bar:
            try:
                count = reindex(app.store, backend, app.settings.search.batch_size, bar.advance)
            except BackendUnavailable as exc:
                raise _unreachable(app.settings, str(exc)) from None
        with app.store.session() as session:
            audit.record(session, "reindex", details={"backend": backend.name, "documents": count})
    finally:
        backend.close()
    if fmt == OutputFormat.json:
        emit_one({"backend": backend.name, "documents": count}, fmt)
    else:
        console.print(f"reindexed {count} documents into the {backend.name} index")
