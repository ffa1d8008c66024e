"""The workspace's HTML pages. Each view is audited with the user; NGO users get the NGO allow-list."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup, escape
from sqlalchemy import func, select

from alerts.lifecycle import acknowledge, alert_json, confirm, dismiss, get_alert
from alerts.queue import AlertFilter, counts_by_state, known_cases, query_alerts
from alerts.render import for_audience, render_alert
from model.errors import UsageError
from model.vocab import ALERT_KINDS, ALERT_STATES, LEVELS
from store import models as m
from store.leads import LEAD_STATES, get_lead, lead_doc, list_leads
from web.app import RowId, Workspace, bundle_bytes, checked_viewer, page_viewer, require_full, view
from web.security import Viewer

#: Watched communities per page of /watchlist.
WATCH_PAGE = 100
ACTIONS = {"ack": acknowledge, "confirm": confirm, "dismiss": dismiss}
#: Evidence keys that carry post text (shown to investigators as "the announcement post").
TEXT_KEYS = ("text", "excerpt", "post_excerpt", "announcement", "snippet")


def _opt(value: str | None) -> str | None:
    return value.strip() or None if value else None


def highlight(snippet: str) -> Markup:
    """A search snippet with its matches in <mark>, everything else escaped."""
    from search.base import MARK_END, MARK_START

    parts = re.split(f"({re.escape(MARK_START)}.*?{re.escape(MARK_END)})", snippet)
    out = []
    for part in parts:
        if part.startswith(MARK_START) and part.endswith(MARK_END):
            out.append(Markup("<mark>") + escape(part[len(MARK_START):-len(MARK_END)]) + Markup("</mark>"))
        else:
            out.append(escape(part))
    return Markup("").join(out)


def texts_in(value: Any, key: str = "") -> list[str]:
    """Post texts anywhere in an evidence item (investigators only)."""
    if isinstance(value, dict):
        return [t for k, v in value.items() for t in texts_in(v, k)]
    if isinstance(value, list):
        return [t for v in value for t in texts_in(v, key)]
    return [value] if isinstance(value, str) and key in TEXT_KEYS and value.strip() else []


def alert_history(session: Any, alert_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(m.AuditEntry).where(m.AuditEntry.target == f"alert:{alert_id}",
                                                      m.AuditEntry.action.in_(("alert.ack", "alert.confirm",
                                                                               "alert.dismiss")))
                           .order_by(m.AuditEntry.id))
    return [{"at": r.at, "actor": r.actor, "action": r.action.removeprefix("alert."),
             "note": (r.details or {}).get("note")} for r in rows]


def register(api: FastAPI, ws: Workspace) -> None:
    templates = ws.templates
    templates.env.filters["highlight"] = highlight
    templates.env.globals["score_text"] = lambda s: "" if s is None else f"{float(s):.2f}"

    # ------------------------------------------------------------------ alerts
    @api.get("/alerts", response_class=HTMLResponse, include_in_schema=False)
    def alerts_page(request: Request, state: str | None = "open", kind: str | None = None, level: str | None = None,
                    case: str | None = None, platform: str | None = None, since: str | None = None,
                    viewer: Viewer = Depends(page_viewer)) -> Response:
        flt = AlertFilter(state=_opt(state), kind=_opt(kind), level=_opt(level), case=_opt(case),
                          platform=_opt(platform), since=_opt(since))
        with ws.session() as session:
            alerts = query_alerts(session, flt, ws.clock())
            docs = [for_audience(alert_json(a, session), viewer.detail) for a in alerts]
            counts = counts_by_state(session, flt, ws.clock())
            cases = known_cases(session)
            view(ws, session, viewer, "web.alerts", None, {**flt.__dict__, "ids": [d["id"] for d in docs]})
        return ws.render(request, viewer, "alerts.html", alerts=docs, counts=counts, flt=flt, cases=cases,
                         states=ALERT_STATES, kinds=ALERT_KINDS, levels=LEVELS)

    @api.get("/alerts/{alert_id}", response_class=HTMLResponse, include_in_schema=False)
    def alert_page(request: Request, alert_id: RowId, viewer: Viewer = Depends(page_viewer)) -> Response:
        with ws.session() as session:
            alert = get_alert(session, alert_id)
            doc = alert_json(alert, session)
            shown = for_audience(doc, viewer.detail)
            message = render_alert(doc, viewer.detail, f"web:{alert_id}")
            posts = [t for s in doc.get("signals") or [] for e in s.get("evidence") or [] for t in texts_in(e)]
            history = alert_history(session, alert_id) if viewer.full else []
            note = alert.note if viewer.full else None
            view(ws, session, viewer, "alert.show", f"alert:{alert_id}", {"via": "web", "detail": viewer.detail})
        return ws.render(request, viewer, "alert.html", alert=shown, summary=Markup(_body(message.html)),
                         posts=posts if viewer.full else [], history=history, note=note)

    @api.post("/alerts/{alert_id}/{action}", include_in_schema=False)
    def alert_action(alert_id: RowId, action: str, note: str = Form(""),
                     viewer: Viewer = Depends(checked_viewer)) -> Response:
        if action not in ACTIONS:
            raise HTTPException(status_code=404, detail=f"no action {action!r}")
        text = note.strip() or None
        with ws.session() as session:
            alert = ACTIONS[action](session, alert_id, text)
            from store import audit

            audit.record(session, f"alert.{action}", f"alert:{alert_id}", {"note": text, "state": alert.state,
                                                                         "via": "web"}, actor=viewer.actor)
        return RedirectResponse(f"/alerts/{alert_id}", status_code=303)

    @api.get("/alerts/{alert_id}/bundle.zip", include_in_schema=False)
    def alert_bundle(alert_id: RowId, viewer: Viewer = Depends(require_full)) -> Response:
        with ws.session() as session:
            data, sha, info = bundle_bytes(session, alert_id, viewer.actor)
            view(ws, session, viewer, "alert.export", f"alert:{alert_id}",
                 {"via": "web", "sha256": sha, "files": info.files})
        return Response(data, media_type="application/zip",
                        headers={"Content-Disposition": f'attachment; filename="alert-{alert_id}.zip"'})

    # ------------------------------------------------------------------ leads
    @api.get("/leads", response_class=HTMLResponse, include_in_schema=False)
    def leads_page(request: Request, state: str = "needs_human", viewer: Viewer = Depends(require_full)) -> Response:
        with ws.session() as session:
            docs = [lead_doc(session, lead, with_excerpt=False) for lead in list_leads(session, state)]
            view(ws, session, viewer, "lead.list", None, {"state": state, "ids": [d["id"] for d in docs],
                                                          "via": "web"})
        return ws.render(request, viewer, "leads.html", leads=docs, state=state, states=LEAD_STATES)

    @api.get("/leads/{lead_id}", response_class=HTMLResponse, include_in_schema=False)
    def lead_page(request: Request, lead_id: RowId, viewer: Viewer = Depends(require_full)) -> Response:
        with ws.session() as session:
            doc = lead_doc(session, get_lead(session, lead_id), with_excerpt=True)
            view(ws, session, viewer, "lead.show", f"lead:{lead_id}", {"via": "web"})
        return ws.render(request, viewer, "lead.html", lead=doc)

    @api.post("/leads/{lead_id}/review", include_in_schema=False)
    def lead_review(lead_id: RowId, note: str = Form(""), watch: str = Form(""), case: str = Form(""),
                    viewer: Viewer = Depends(checked_viewer)) -> Response:
        if not viewer.full:
            raise HTTPException(status_code=403, detail="leads are for investigators and analysts")
        from store import audit
        from store.watchlist import add_watch, parse_target

        text, wants_watch = note.strip() or None, bool(watch)
        with ws.session() as session:
            lead = get_lead(session, lead_id)
            watched_id = None
            if wants_watch:
                if lead.is_private:
                    raise HTTPException(status_code=400, detail="a private invite is never joined or watched; "
                                                                "record what you found in the note")
                community, _ = add_watch(session, parse_target(lead.url), case=_opt(case))
                lead.community_id = community.id
                watched_id = community.id
            lead.state = "watching" if wants_watch else "reviewed"
            lead.attrs = {**(lead.attrs or {}), "review": {"by": viewer.actor, "at": ws.clock().isoformat(),
                                                           "note": text}}
            audit.record(session, "lead.review", f"lead:{lead_id}", {"note": text, "watch": wants_watch,
                                                                    "community_id": watched_id, "via": "web"},
                         actor=viewer.actor)
        return RedirectResponse(f"/leads/{lead_id}", status_code=303)

    # ------------------------------------------------------------------ search
    @api.get("/search", response_class=HTMLResponse, include_in_schema=False)
    def search_page(request: Request, q: str = "", page: int = 1, viewer: Viewer = Depends(require_full)) -> Response:
        from web.searching import run_search

        result, error = (None, None)
        if q.strip():
            try:
                result = run_search(ws, viewer, q, page=max(1, page))
            except UsageError as exc:
                error = str(exc)
                with ws.session() as session:
                    view(ws, session, viewer, "search", q, {"via": "web", "error": True})
        with ws.session() as session:
            user = session.get(m.WebUser, viewer.user_id)
            saved = list(user.saved_searches or []) if user else []
        return ws.render(request, viewer, "search.html", q=q, result=result, error=error, saved=saved,
                         status_code=400 if error else 200)

    @api.get("/search.csv", include_in_schema=False)
    def search_csv(q: str, viewer: Viewer = Depends(require_full)) -> Response:
        from web.searching import run_search

        result = run_search(ws, viewer, q, page=1, limit=500, action="search.export")
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["date", "platform", "community", "type", "url", "title", "snippet"])
        for hit in result["hits"]:
            writer.writerow([hit["date"], hit["platform"], hit["community"], hit["type"], hit["url"],
                             hit["title"], hit["plain"]])
        return Response(out.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="search.csv"'})

    @api.post("/search/saved", include_in_schema=False)
    def save_search(q: str = Form(...), viewer: Viewer = Depends(checked_viewer)) -> Response:
        with ws.session() as session:
            user = session.get(m.WebUser, viewer.user_id)
            if user is not None and q.strip() and q not in (user.saved_searches or []):
                user.saved_searches = [*(user.saved_searches or []), q][-50:]
            view(ws, session, viewer, "search.save", q, {"via": "web"})
        return RedirectResponse(f"/search?q={quote(q, safe='')}", status_code=303)

    # ------------------------------------------------------------------ communities
    @api.get("/communities/{community_id}", response_class=HTMLResponse, include_in_schema=False)
    def community_page(request: Request, community_id: RowId, viewer: Viewer = Depends(page_viewer)) -> Response:
        from web.community import community_view

        with ws.session() as session:
            data = community_view(session, community_id, full=viewer.full)
            view(ws, session, viewer, "community.show", f"community:{community_id}", {"via": "web"})
        return ws.render(request, viewer, "community.html", **data)

    # ------------------------------------------------------------------ watchlist and status
    @api.get("/watchlist", response_class=HTMLResponse, include_in_schema=False)
    def watchlist_page(request: Request, page: int = Query(1, ge=1), viewer: Viewer = Depends(page_viewer)
                       ) -> Response:
        from store.status import backlog, service_state
        from store.watchlist import watch_json
        from web.sources import page_statuses

        with ws.session() as session:
            report = {"service": service_state(session, ws.clock(), timedelta(minutes=3)),
                      "backlog": backlog(session).__dict__}
            seeds = select(m.Community).where(m.Community.watch_state == "seed")
            total = session.scalar(select(func.count()).select_from(seeds.subquery())) or 0
            rows = session.scalars(seeds.order_by(m.Community.id).offset((page - 1) * WATCH_PAGE).limit(WATCH_PAGE))
            watched = [watch_json(c) for c in rows]
            view(ws, session, viewer, "web.watchlist", None, {"page": page, "ids": [w["id"] for w in watched]})
            by_id = page_statuses(session, [int(str(w["id"])) for w in watched])
        return ws.render(request, viewer, "watchlist.html", watched=watched, status=by_id, report=report,
                         page=page, total=total, per_page=WATCH_PAGE)

    @api.post("/watchlist", include_in_schema=False)
    def watchlist_add(target: str = Form(...), label: str = Form(""), case: str = Form(""),
                      viewer: Viewer = Depends(checked_viewer)) -> Response:
        if not viewer.full:
            raise HTTPException(status_code=403, detail="the watchlist is changed by investigators and analysts")
        from store import audit
        from store.watchlist import add_watch, parse_target

        with ws.session() as session:
            labels = [s.strip() for s in label.split(",") if s.strip()]
            community, _created = add_watch(session, parse_target(target.strip()), labels=labels or None,
                                           case=_opt(case))
            audit.record(session, "watch.add", f"community:{community.id}", {"target": target, "via": "web"},
                         actor=viewer.actor)
        return RedirectResponse("/watchlist", status_code=303)

    @api.post("/watchlist/{community_id}/remove", include_in_schema=False)
    def watchlist_remove(community_id: RowId, viewer: Viewer = Depends(checked_viewer)) -> Response:
        if not viewer.full:
            raise HTTPException(status_code=403, detail="the watchlist is changed by investigators and analysts")
        from store import audit
        from store.watchlist import remove_watch

        with ws.session() as session:
            remove_watch(session, str(community_id))
            audit.record(session, "watch.remove", f"community:{community_id}", {"via": "web"}, actor=viewer.actor)
        return RedirectResponse("/watchlist", status_code=303)

    # ------------------------------------------------------------------ graph
    @api.get("/graph", response_class=HTMLResponse, include_in_schema=False)
    def graph_page(request: Request, case: str = "", since: str = "", around: str = "",
                   viewer: Viewer = Depends(page_viewer)) -> Response:
        with ws.session() as session:
            cases = known_cases(session)
            view(ws, session, viewer, "graph.view", None, {"case": case, "since": since, "around": around})
        return ws.render(request, viewer, "graph.html", case=case, since=since, around=around, cases=cases)

    @api.get("/graph/view.html", response_class=HTMLResponse, include_in_schema=False)
    def graph_viewer(case: str = "", since: str = "", around: str = "", viewer: Viewer = Depends(page_viewer)
                     ) -> Response:
        body = ws.graph_pages.get(ws.app, case=_opt(case), since=_opt(since), around=_opt(around), clock=ws.clock)
        with ws.session() as session:
            view(ws, session, viewer, "graph.export", None, {"via": "web", "format": "html", "case": case,
                                                            "since": since, "around": around})
        return HTMLResponse(body)


def _body(html_doc: str) -> str:
    """The inside of a rendered message's <body> (the NGO or investigator e-mail, as delivered)."""
    start, end = html_doc.find("<body>"), html_doc.rfind("</body>")
    return html_doc[start + 6:end] if start >= 0 and end > start else html_doc

