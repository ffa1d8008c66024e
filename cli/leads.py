"""``resurface leads ...``: the leads that wait for a person (private invites above all), and what is
public about each, so that none is printed once by ``detect`` and then forgotten.

Every listing, view and review is written to the audit log.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from sqlalchemy import select

from cli.support import FormatOption, OutputFormat, console, emit, emit_one, state
from model.errors import UsageError
from store import audit
from store import models as m
from store.leads import LEAD_STATES
from store.leads import get_lead as _get
from store.leads import lead_doc as _lead_doc
from store.watchlist import add_watch, parse_target

app = typer.Typer(help="Leads: communities reached through links or name searches; private invites wait here.",
                  no_args_is_help=True)

@app.command("list")
def list_leads(
    ctx: typer.Context,
    lead_state: Annotated[str, typer.Option("--state", help=f"{', '.join(LEAD_STATES)} or all.")] = "needs_human",
    limit: Annotated[int, typer.Option(min=1)] = 100,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Leads in a state (default: those that need a person), newest first."""
    if lead_state not in (*LEAD_STATES, "all"):
        raise UsageError(f"--state must be one of {', '.join(LEAD_STATES)}, all; not {lead_state!r}")
    query = select(m.Lead).order_by(m.Lead.found_at.desc(), m.Lead.id.desc()).limit(limit)
    if lead_state != "all":
        query = query.where(m.Lead.state == lead_state)
    with state(ctx).app.store.session() as session:
        docs = [_lead_doc(session, lead, with_excerpt=False) for lead in session.scalars(query)]
        audit.record(session, "lead.list", None, {"state": lead_state, "ids": [d["id"] for d in docs]})
    if fmt == OutputFormat.json:
        emit(docs, fmt)
        return
    rows = [{"id": d["id"], "state": d["state"], "url": d["url"], "private": "yes" if d["private"] else "",
             "title": (d["public"] or {}).get("title") or "",
             "found in": (d["found_in"] or {}).get("handle") or (d["found_in"] or {}).get("url") or "",
             "found at": d["found_at"][:16].replace("T", " ")} for d in docs]
    emit(rows, fmt, title=f"leads ({lead_state})")


@app.command("show")
def show_lead(ctx: typer.Context, lead_id: Annotated[int, typer.Argument(help="Lead id.")],
              fmt: OutputFormat = FormatOption) -> None:
    """One lead: where and when it was found, the post around it, and what is public about it."""
    with state(ctx).app.store.session() as session:
        doc = _lead_doc(session, _get(session, lead_id), with_excerpt=True)
        audit.record(session, "lead.show", f"lead:{lead_id}")
    if fmt == OutputFormat.json:
        emit_one(doc, fmt)
        return
    private = ", private invite: never joined automatically" if doc["private"] else ""
    console.print(f"[bold]lead #{doc['id']}[/bold] {escape(doc['url'])} ({doc['state']}{private})",
                  highlight=False, soft_wrap=True)
    found_in = doc["found_in"] or {}
    console.print(f"found {doc['found_at'][:16].replace('T', ' ')} in {escape(str(found_in.get('url') or '?'))}"
                  + (f", post {escape(doc['found_in_post'])}" if doc["found_in_post"] else ""),
                  highlight=False, soft_wrap=True)
    if doc.get("post_excerpt"):
        console.print(f"post: “{escape(doc['post_excerpt'])}”", highlight=False, soft_wrap=True)
    for key, value in (doc["public"] or {}).items():
        console.print(f"public {key}: {escape(str(value))}", highlight=False, soft_wrap=True)
    if doc["review"]:
        console.print(f"reviewed: {escape(str(doc['review']))}", highlight=False, soft_wrap=True)


@app.command("review")
def review_lead(
    ctx: typer.Context,
    lead_id: Annotated[int, typer.Argument(help="Lead id.")],
    note: Annotated[str | None, typer.Option("--note", "-n", help="What you found (kept with the lead).")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Also add it to the watchlist (public communities only).")
                     ] = False,
    case: Annotated[str | None, typer.Option(help="Case for the watchlist entry.")] = None,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Mark a lead as reviewed by a person; optionally watch it."""
    with state(ctx).app.store.session() as session:
        lead = _get(session, lead_id)
        watched_id = None
        if watch:
            if lead.is_private:
                raise UsageError(f"lead #{lead_id} is a private invite: Resurface never joins; "
                                 "record what you found with --note instead")
            community, _ = add_watch(session, parse_target(lead.url), case=case)
            lead.community_id = community.id
            watched_id = community.id
        reviewer = audit.current_actor()
        lead.state = "watching" if watch else "reviewed"
        lead.attrs = {**(lead.attrs or {}), "review": {"by": reviewer, "at": m.utcnow().isoformat(), "note": note}}
        audit.record(session, "lead.review", f"lead:{lead_id}", {"note": note, "watch": watch,
                                                                "community_id": watched_id})
        doc = _lead_doc(session, lead, with_excerpt=False)
    if fmt == OutputFormat.json:
        emit_one(doc, fmt)
    else:
        console.print(f"lead #{lead_id} is now {doc['state']}", highlight=False, soft_wrap=True)
